#!/usr/bin/env node
// Load through the daemon's Unix socket: N clients each send a sequence of
// WRITE(10) / READ(10) of their own LBA range (unique patterns, verified) and
// INQUIRY, against a spawned `usbscsid --device sim`. Prints commands/s and
// p50/p99 latency; asserts nothing about time. Needs `pnpm build` first.
//
//   node apps/daemon/bench/load.mjs [--clients 32] [--per-client 50] [--blocks 4] [--direct]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = fileURLToPath(new URL('.', import.meta.url));
const main = join(here, '../dist/main.js');
if (!existsSync(main)) {
  console.error('apps/daemon/dist/main.js is missing: run `pnpm build` first');
  process.exit(2);
}
const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '32' },
    'per-client': { type: 'string', default: '50' },
    blocks: { type: 'string', default: '4' },
    direct: { type: 'boolean', default: false },
  },
});
const CLIENTS = Number(values.clients);
const PER_CLIENT = Number(values['per-client']);
const BLOCKS = Number(values.blocks);
const BLOCK = 512;
const RANGE = 40 * BLOCKS; // blocks each client owns

const core = await import('@usbscsi/core');
const { DaemonClient } = core.DaemonClient ? core : await import('../../../packages/core/dist/client/index.js');

const cdb10 = (op, lba, blocks) => {
  const b = Buffer.alloc(10);
  b[0] = op;
  b.writeUInt32BE(lba, 2);
  b.writeUInt16BE(blocks, 7);
  return b;
};
const INQUIRY = Uint8Array.from([0x12, 0, 0, 0, 36, 0]);
const pattern = (client, step) => {
  const b = Buffer.alloc(BLOCKS * BLOCK);
  for (let i = 0; i < b.length; i += 4) b.writeUInt32BE(((client << 24) | (step << 16) | (i >> 2)) >>> 0, i);
  return b;
};
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** One client's sequence; `exec(cdb, opts)` returns a ScsiResult. */
async function clientRun(k, exec, latencies) {
  let last;
  let bad = 0;
  for (let step = 0; step < PER_CLIENT; step++) {
    const kind = step % 5;
    const t0 = process.hrtime.bigint();
    if (kind === 0 || kind === 2) {
      const lba = k * RANGE + (step % 40) * BLOCKS;
      last = { lba, data: pattern(k, step) };
      const r = await exec(cdb10(0x2a, lba, BLOCKS), { data: last.data, allowMediumWrite: true });
      if (r.status !== 0) bad++;
    } else if (kind === 1 || kind === 3) {
      const r = await exec(cdb10(0x28, last.lba, BLOCKS), { length: BLOCKS * BLOCK });
      if (r.status !== 0 || !Buffer.from(r.data).equals(last.data)) bad++;
    } else {
      const r = await exec(INQUIRY, { length: 36 });
      if (r.status !== 0) bad++;
    }
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return bad;
}

function report(label, latencies, ms, bad, bytes) {
  const sorted = [...latencies].sort((a, b) => a - b);
  const n = latencies.length;
  console.log(
    `${label}: ${n} commands in ${(ms / 1000).toFixed(2)} s = ${Math.round((n / ms) * 1000)} commands/s; ` +
      (`latency p50 ${pct(sorted, 50).toFixed(2)} ms, p99 ${pct(sorted, 99).toFixed(2)} ` +
        `ms, max ${sorted[n - 1].toFixed(2)} ms; `) +
      `${(bytes / ms / 1000).toFixed(1)} MB/s data; ${bad} bad results`,
  );
}

const dir = mkdtempSync(join(tmpdir(), 'usbscsid-load-'));
const socket = join(dir, 'd.sock');
const blocks = Math.max(8192, CLIENTS * RANGE + 64);
const daemon = spawn(
  process.execPath,
  [
    ...(process.env.LOAD_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.LOAD_CPU_PROF}`] : []),
    main,
    '--socket',
    socket,
    '--device',
    `sim:blocks=${blocks}`,
    '--log-level',
    'warn',
  ],
  { stdio: ['ignore', 'inherit', 'inherit'] },
);
try {
  for (let i = 0; i < 200 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 25));
  const probe = new DaemonClient({ kind: 'unix', socketPath: socket });
  const [device] = await probe.listDevices();
  // warm up (opens the device)
  await probe.execute(device.id, INQUIRY, { length: 36 });
  const clients = Array.from(
    { length: CLIENTS },
    () => new DaemonClient({ kind: 'unix', socketPath: socket }, { maxSockets: 1 }),
  );
  const latencies = [];
  const t0 = performance.now();
  const bads = await Promise.all(
    clients.map((c, k) => clientRun(k, (cdb, o) => c.execute(device.id, cdb, o), latencies)),
  );
  const ms = performance.now() - t0;
  const ioBytes = CLIENTS * PER_CLIENT * 0.8 * BLOCKS * BLOCK;
  console.log(
    `node ${process.version}, ${CLIENTS} clients × ${PER_CLIENT} commands (40% WRITE(10) ` +
      `${BLOCKS * BLOCK} B, 40% READ(10) verified, 20% INQUIRY), one simulated BOT disk`,
  );
  report(
    'through usbscsid (unix socket)',
    latencies,
    ms,
    bads.reduce((a, b) => a + b, 0),
    ioBytes,
  );
  clients.forEach((c) => c.close());
  probe.close();

  if (values.direct) {
    // The same work in-process on a simulated disk, no daemon: what the socket and queue cost.
    const { openDevice } = core;
    const { createSimulatedBackend } = await import('@usbscsi/emulator');
    const dev = await openDevice({
      backend: createSimulatedBackend({ luns: [{ blockSize: 512, blockCount: blocks }] }),
      transport: 'bot',
    });
    const direct = [];
    const d0 = performance.now();
    let bad = 0;
    for (let k = 0; k < CLIENTS; k++) bad += await clientRun(k, (cdb, o) => dev.execute(cdb, o), direct);
    report('direct ScsiDevice, no daemon (sequential)', direct, performance.now() - d0, bad, ioBytes);
    await dev.close();
  }
} finally {
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
