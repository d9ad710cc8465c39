import { describe, expect, it } from 'vitest';
import { blockNodeOfSg } from './block-node.js';
import type { QueueLimitsFs } from './queue-limits.js';

const makedev = (major: number, minor: number) => BigInt((major << 8) | minor);

/** A sysfs and /dev in miniature: sg0 (21:0) over disk sda (8:0). */
function tree(overrides: { disks?: string[]; sdaDev?: string; devSda?: { rdev: bigint; block: boolean } | null } = {}) {
  const nodes: Record<string, { rdev: bigint; block: boolean }> = {
    '/dev/sg0': { rdev: makedev(21, 0), block: false },
    '/dev/sda': { rdev: makedev(8, 0), block: true },
  };
  if (overrides.devSda === null) delete nodes['/dev/sda'];
  else if (overrides.devSda) nodes['/dev/sda'] = overrides.devSda;
  const device = '/sys/dev/char/21:0/device';
  const fs: QueueLimitsFs = {
    async stat(path) {
      const n = nodes[path];
      if (!n) throw Object.assign(new Error(`ENOENT ${path}`), { code: 'ENOENT' });
      return { rdev: n.rdev, isBlockDevice: () => n.block, isCharacterDevice: () => !n.block };
    },
    async readdir(path) {
      if (path === `${device}/block`) return overrides.disks ?? ['sda'];
      throw new Error(`ENOENT ${path}`);
    },
    async readFile(path) {
      if (path === `${device}/block/sda/dev`) return `${overrides.sdaDev ?? '8:0'}\n`;
      throw new Error(`ENOENT ${path}`);
    },
  };
  return fs;
}

describe('blockNodeOfSg', () => {
  it('finds the disk of an sg node through sysfs and checks /dev against its device number', async () => {
    expect(await blockNodeOfSg('/dev/sg0', { fs: tree() })).toBe('/dev/sda');
  });

  it('is null for a /dev entry with another device number, a missing node, no disk or a block node', async () => {
    expect(await blockNodeOfSg('/dev/sg0', { fs: tree({ sdaDev: '8:16' }) })).toBeNull();
    expect(await blockNodeOfSg('/dev/sg0', { fs: tree({ devSda: null }) })).toBeNull();
    expect(await blockNodeOfSg('/dev/sg0', { fs: tree({ devSda: { rdev: makedev(8, 0), block: false } }) })).toBeNull();
    expect(await blockNodeOfSg('/dev/sg0', { fs: tree({ disks: [] }) })).toBeNull();
    expect(await blockNodeOfSg('/dev/sg0', { fs: tree({ disks: ['sda', 'sdb'] }) })).toBeNull();
    expect(await blockNodeOfSg('/dev/sg0', { fs: tree({ disks: ['../x'] }) })).toBeNull();
    expect(await blockNodeOfSg('/dev/sda', { fs: tree() })).toBeNull();
    expect(await blockNodeOfSg('/dev/sg9', { fs: tree() })).toBeNull();
  });
});
