#!/usr/bin/env node
// `pnpm bench`: builds the two C baselines and the guest initramfs (tools/vm/build-initramfs.sh),
// boots QEMU once per scenario (xHCI, EHCI) and runs every path in that one boot
// (tools/bench/guest/bench.mjs), then measures memory on the host against the emulator and writes
// reports/bench.json, reports/bench-throughput.svg and a table on stdout.
// Flags and BENCH_* knobs: see tools/bench/lib/args.mjs or `pnpm bench -- --help`.
// Exit status: 0 when every scenario and path produced numbers (targets never fail the run),
// 1 when something could not be measured, 2 on bad arguments or missing prerequisites.
import { execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchArgumentError, parseBenchArgs, usage } from './lib/args.mjs';
import { best, judgeTargets, renderSvg, renderText, summarizeScenario, summarizeTurAb } from './lib/report.mjs';
import { judgePairs, summarizePairs } from './lib/pair-report.mjs';
import { topFrames } from './lib/cpuprofile.mjs';
import { startupText } from './lib/startup.mjs';
import { measureStartup } from './startup.mjs';
import { qemuAccel } from '../vm/accel.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const work = resolve(process.env.BENCH_WORK ?? join(repo, '.vm-work', 'bench'));
const out = join(work, 'out');
const reports = resolve(process.env.BENCH_REPORTS ?? join(repo, 'reports'));
const bootTimeoutS = Number(process.env.BENCH_TIMEOUT_S ?? 5400);

function fail(message, code = 2) {
  console.error(`bench: ${message}`);
  process.exit(code);
}

let accel;

function has(bin) {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function checkPrerequisites() {
  const need = [
    ['qemu-system-x86_64', 'qemu-system-x86'],
    ['cpio', 'cpio'],
    ['depmod', 'kmod'],
    ['busybox', 'busybox-static'],
    ['gcc', 'gcc'],
    ['pkg-config', 'pkg-config'],
    ['sg_inq', 'sg3-utils'],
  ];
  const missing = need.filter(([b]) => !has(b));
  if (missing.length)
    fail(
      `missing ${missing.map(([b]) => b).join(', ')}: ` +
        `apt-get install ${[...new Set(missing.map(([, p]) => p))].join(' ')}`,
    );
  try {
    execFileSync('pkg-config', ['--exists', 'libusb-1.0']);
  } catch {
    fail('libusb-1.0 headers missing: apt-get install libusb-1.0-0-dev');
  }
  for (const f of ['packages/core/dist/open.js', 'packages/emulator/dist/index.js']) {
    if (!existsSync(join(repo, f))) fail(`${f} is missing: run \`pnpm build\` first`);
  }
}

function buildBaselines() {
  const bin = join(out, 'bin');
  mkdirSync(bin, { recursive: true });
  const libusb = execFileSync('pkg-config', ['--cflags', '--libs', 'libusb-1.0'], { encoding: 'utf8' })
    .trim()
    .split(/\s+/);
  execFileSync('gcc', ['-O2', '-Wall', '-o', join(bin, 'bot-loop'), join(here, 'c/bot-loop.c'), ...libusb], {
    stdio: 'inherit',
  });
  execFileSync('gcc', ['-O2', '-Wall', '-o', join(bin, 'direct-io'), join(here, 'c/direct-io.c')], {
    stdio: 'inherit',
  });
  execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-o', join(bin, 'sg-loop'), join(here, 'c/sg-loop.c')], {
    stdio: 'inherit',
  });
  execFileSync(
    'gcc',
    ['-O2', '-Wall', '-Wextra', '-pthread', '-o', join(bin, 'random-read'), join(here, 'c/random-read.c')],
    { stdio: 'inherit' },
  );
}

/** Disks the paths need: BENCH1 always, BENCH2 for `multi` (the guest tells them apart by serial). */
const diskCount = (config) => (config.paths.includes('multi') ? 2 : 1);

/**
 * usb-storage disks (BOT, 46f4:0001, serial BENCHn) and a usb-uas disk (46f4:0003) on one
 * controller, each on its own image.
 */
function deviceArgs(scenario, disks, uasDisk) {
  const hc = scenario === 'xhci' ? ['-device', 'qemu-xhci,id=hc'] : ['-device', 'usb-ehci,id=hc'];
  const drives = disks.flatMap((disk, i) => {
    const id = i === 0 ? 'stick' : `stick${i + 1}`;
    return [
      '-drive',
      `if=none,id=${id},file=${disk},format=raw,cache=unsafe`,
      '-device',
      `usb-storage,bus=hc.0,drive=${id},serial=BENCH${i + 1}`,
    ];
  });
  return [
    ...hc,
    ...drives,
    '-drive',
    `if=none,id=uasdisk,file=${uasDisk},format=raw,cache=unsafe`,
    '-device',
    'usb-uas,id=uas0,bus=hc.0',
    '-device',
    'scsi-hd,bus=uas0.0,scsi-id=0,lun=0,drive=uasdisk,serial=BENCHUAS1',
  ];
}

/** A sparse image: reads, then writes, + slack; at least the 64 MiB read and write of the daemon and multi paths. */
function freshImage(path, config) {
  rmSync(path, { force: true });
  const fd = openSync(path, 'w');
  ftruncateSync(fd, Math.max(2 * config.sizeMiB, 128) * 1024 * 1024 + 8 * 1024 * 1024);
  closeSync(fd);
}

function boot(scenario, kernel, initrd, config) {
  const disks = Array.from({ length: diskCount(config) }, (_, i) =>
    join(work, i === 0 ? `disk-${scenario}.img` : `disk${i + 1}-${scenario}.img`),
  );
  const uasDisk = join(work, `disk-uas-${scenario}.img`);
  for (const disk of [...disks, uasDisk]) freshImage(disk, config);
  rmSync(join(out, `raw-${scenario}.json`), { force: true });
  // no_timer_check: under TCG on a loaded host the kernel's IO-APIC timer check can fail and panic
  // at boot ("IO-APIC + timer doesn't work"; seen twice on 2026-12-07 with six helpers benchmarking).
  const args = [
    '-machine',
    'q35',
    '-m',
    '1024',
    '-smp',
    '2',
    '-nographic',
    '-no-reboot',
    ...accel.args,
    '-kernel',
    kernel,
    '-initrd',
    initrd,
    '-append',
    `console=ttyS0 quiet panic=-1 no_timer_check vmscript=tools/bench/guest/bench.sh vmscenario=${scenario}`,
    '-virtfs',
    `local,path=${repo},mount_tag=repo,security_model=none,readonly=on,id=repo`,
    '-virtfs',
    `local,path=${out},mount_tag=out,security_model=none,id=out`,
    ...deviceArgs(scenario, disks, uasDisk),
  ];
  const t0 = Date.now();
  return new Promise((resolveBoot) => {
    const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks = [];
    let pending = '';
    let timedOut = false;
    const onData = (d) => {
      chunks.push(d);
      if (process.env.BENCH_VERBOSE) {
        process.stdout.write(d);
        return;
      }
      pending += d.toString('latin1').replace(/\0/g, '');
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const l of lines) if (/^(BENCH|VM_ERROR|VM_DISK)/.test(l)) console.log(`  ${l.trimEnd()}`);
    };
    qemu.stdout.on('data', onData);
    qemu.stderr.on('data', onData);
    const timer = setTimeout(() => {
      timedOut = true;
      qemu.kill('SIGKILL');
    }, bootTimeoutS * 1000);
    qemu.on('close', () => {
      clearTimeout(timer);
      for (const disk of [...disks, uasDisk]) rmSync(disk, { force: true });
      const consoleText = Buffer.concat(chunks).toString('latin1').replace(/\0/g, '');
      writeFileSync(join(work, `console-${scenario}.log`), consoleText);
      let raw = null;
      try {
        raw = JSON.parse(readFileSync(join(out, `raw-${scenario}.json`), 'utf8'));
      } catch {
        /* reported by the caller */
      }
      resolveBoot({ scenario, timedOut, seconds: (Date.now() - t0) / 1000, raw, consoleText });
    });
  });
}

function runMemory(config) {
  try {
    const text = execFileSync(
      process.execPath,
      ['--expose-gc', join(here, 'memory.mjs'), String(config.memoryGiB), '256'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    );
    return JSON.parse(text);
  } catch (err) {
    const text = err?.stdout ? String(err.stdout) : '';
    try {
      return JSON.parse(text);
    } catch {
      return { error: err?.message ?? String(err) };
    }
  }
}

function profiles(scenario) {
  const dir = join(out, `prof-${scenario}`);
  if (!existsSync(dir)) return null;
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  return files.map((f) => ({ file: join(dir, f), top: topFrames(JSON.parse(readFileSync(join(dir, f), 'utf8')), 25) }));
}

async function main() {
  let config;
  try {
    config = parseBenchArgs(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof BenchArgumentError) fail(err.message);
    throw err;
  }
  if (config.help) {
    console.log(usage());
    return 0;
  }
  const t0 = Date.now();
  checkPrerequisites();
  mkdirSync(out, { recursive: true });
  for (const f of readdirSync(out))
    if (/^(raw-|prof-|cpu-prof$|config\.json$)/.test(f)) rmSync(join(out, f), { recursive: true, force: true });
  if (config.cpuProf) writeFileSync(join(out, 'cpu-prof'), '1');
  buildBaselines();
  const tb = Date.now();
  execFileSync('bash', [join(repo, 'tools/vm/build-initramfs.sh'), work], { stdio: 'inherit' });
  console.log(
    `bench: initramfs built in ${((Date.now() - tb) / 1000).toFixed(1)} s; ${config.sizeMiB} MiB per point, ` +
      `sizes ${config.sizes.map((s) => s / 1024).join('/')} KiB, ${config.reps} reps, TUR x${config.turCount}, ` +
      `paths ${config.paths.join(',')}`,
  );
  const kv = readFileSync(join(work, 'kernel-version'), 'utf8').trim();
  try {
    accel = await qemuAccel(`/boot/vmlinuz-${kv}`);
  } catch (err) {
    fail(err.message);
  }
  console.log(`bench: QEMU accelerator ${accel.accel} (${accel.why})`);
  writeFileSync(
    join(out, 'config.json'),
    JSON.stringify({
      sizeMiB: config.sizeMiB,
      sizes: config.sizes,
      paths: config.paths,
      reps: config.reps,
      turCount: config.turCount,
      chunkKiB: config.chunkKiB,
      disks: diskCount(config),
      randomCount: config.randomCount,
    }),
  );

  const report = {
    title:
      `usbscsi throughput against transfer size (QEMU ${accel.accel.toUpperCase()} usb-storage, ` +
      `${config.sizeMiB} MiB per point, median of ${config.reps})`,
    accel: { name: accel.accel, why: accel.why },
    generatedAt: new Date().toISOString(),
    command: `pnpm bench ${process.argv.slice(2).join(' ')}`.trim(),
    config,
    scenarios: [],
    memory: null,
    startup: null,
  };
  let complete = true;
  for (const scenario of config.scenarios) {
    console.log(`bench: booting ${scenario}…`);
    const r = await boot(scenario, `/boot/vmlinuz-${kv}`, join(work, 'initrd.gz'), config);
    if (!r.raw) {
      complete = false;
      console.log(
        `bench: ${scenario}: NO RESULTS${r.timedOut ? ` (QEMU killed after ${bootTimeoutS} s)` : ''}; ` +
          `console in ${join(work, `console-${scenario}.log`)}`,
      );
      report.scenarios.push({
        scenario,
        error: r.timedOut ? 'timed out' : 'no results file',
        totalBytes: config.sizeMiB * 1048576,
        sizes: config.sizes,
        paths: config.paths,
        reps: 0,
        turCount: config.turCount,
        summary: {},
        targets: [],
      });
      continue;
    }
    const summary = summarizeScenario(r.raw);
    if (Object.values(summary).some((p) => p.errors.length)) complete = false;
    const pairs = summarizePairs(r.raw);
    const turAb = summarizeTurAb(r.raw);
    report.scenarios.push({
      scenario,
      bootSeconds: r.seconds,
      guestSeconds: r.raw.seconds,
      environment: r.raw.environment,
      totalBytes: r.raw.totalBytes,
      sizes: r.raw.sizes,
      paths: r.raw.paths,
      reps: r.raw.reps.length,
      turCount: r.raw.turCount,
      summary,
      targets: [...judgeTargets(summary, r.raw.sizes, turAb), ...judgePairs(pairs)],
      pairs,
      turAb,
      bestSummary: summarizeScenario(r.raw, best),
      raw: r.raw.reps,
      cpuProfiles: profiles(scenario),
    });
    console.log(`bench: ${scenario}: measured in ${r.seconds.toFixed(1)} s`);
  }
  if (config.memoryGiB > 0) {
    console.log(`bench: host memory, ${config.memoryGiB} GiB streamed from the emulator…`);
    report.memory = runMemory(config);
    if (report.memory.error) complete = false;
  }
  if (config.startupRuns > 0) {
    console.log(`bench: CLI start-up, ${config.startupRuns} runs per command…`);
    report.startup = measureStartup(config.startupRuns);
    if (report.startup.error) complete = false;
  }
  report.totalSeconds = (Date.now() - t0) / 1000;
  mkdirSync(reports, { recursive: true });
  writeFileSync(join(reports, 'bench.json'), JSON.stringify(report, null, 1));
  writeFileSync(join(reports, 'bench-throughput.svg'), renderSvg(report));
  console.log(`\n${renderText(report)}\n`);
  if (report.startup) console.log(`${startupText(report.startup)}\n`);
  for (const s of report.scenarios) {
    for (const p of s.cpuProfiles ?? []) {
      console.log(`-- ${s.scenario}: top self-time frames of the in-guest node run (${p.file}) --`);
      for (const f of p.top.slice(0, 15))
        console.log(`  ${f.selfPercent.toFixed(1).padStart(5)}%  ${f.name}  ${f.where}`);
    }
  }
  console.log(
    `bench: ${complete ? 'done' : 'INCOMPLETE (see errors above)'} in ${report.totalSeconds.toFixed(1)} s; ` +
      `${join(reports, 'bench.json')}, ${join(reports, 'bench-throughput.svg')}`,
  );
  return complete ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
