import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { run, runOrExit } from '../src/cli.js';

/** usbscsid's bad options: each one message, exit 2, refused before a device is opened or a socket made. */
describe('usbscsid option errors', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'usbscsid-options-'));
  });
  afterEach(() => {
    vi.restoreAllMocks();
    rmSync(dir, { recursive: true, force: true });
  });

  const argv = (...args: string[]) => ['node', 'usbscsid', '--device', 'sim', '--log-level', 'silent', ...args];

  /** What runOrExit prints and the exit code it asks for. */
  async function exitOf(args: string[]): Promise<{ code: number | undefined; stderr: string }> {
    let stderr = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr += String(chunk);
      return true;
    });
    const exited = new Promise<number | undefined>((resolve) => {
      vi.spyOn(process, 'exit').mockImplementation(((code?: number) => {
        resolve(code);
        return undefined as never;
      }) as typeof process.exit);
    });
    runOrExit(argv(...args));
    const code = await exited;
    vi.restoreAllMocks();
    return { code, stderr };
  }

  it('refuses an empty --socket with what to do instead, not Node internals', async () => {
    const err = await run(argv('--socket', '')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_BAD_INPUT' });
    expect((err as Error).message).toMatch(/^--socket needs a path .*--no-socket/);
    const { code, stderr } = await exitOf(['--socket', '']);
    expect(code).toBe(2);
    expect(stderr).not.toMatch(/ERR_INVALID_ARG_VALUE|\[Function/);
  });

  it('exits 2 on an unknown option, as on every other usage error, with one line', async () => {
    for (const bad of [['--bogus'], ['--max-queue-depth', 'x'], ['--body-limit', 'lots']]) {
      const { code, stderr } = await exitOf(bad);
      expect({ bad, code }).toEqual({ bad, code: 2 });
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).toMatch(/^usbscsid: E_BAD_INPUT: /);
      expect(stderr).toContain(bad[0]);
    }
  });

  it('says a missing token file is missing, once, without the errno twice', async () => {
    const missing = join(dir, 'no-token');
    const { code, stderr } = await exitOf([
      '--socket',
      join(dir, 'd.sock'),
      '--listen',
      '127.0.0.1:0',
      '--token-file',
      missing,
    ]);
    expect(code).toBe(2);
    expect(stderr).toBe(`usbscsid: E_BAD_INPUT: cannot read --token-file ${missing}: no such file\n`);
  });

  it('says the socket directory does not exist (not EACCES), and that a file is not a directory', async () => {
    const inMissing = join(dir, 'nonexist', 'x.sock');
    await expect(run(argv('--socket', inMissing))).rejects.toMatchObject({
      code: 'E_BAD_INPUT',
      message: expect.stringMatching(/directory of the socket .*x\.sock does not exist/),
    });
    writeFileSync(join(dir, 'plain'), '');
    await expect(run(argv('--socket', join(dir, 'plain', 'x.sock')))).rejects.toMatchObject({
      code: 'E_BAD_INPUT',
      message: expect.stringMatching(/does not exist|not a directory/),
    });
  });
});
