#!/usr/bin/env node
// `pnpm test:vm`: builds the guest initramfs, boots QEMU once per scenario, runs the in-guest
// suite (tools/vm/guest/suite.mjs) against the built packages shared over 9p, and sums the results.
// Env: VM_WORK (work dir, default <repo>/.vm-work), VM_SCENARIOS (default xhci,ehci,gadget),
//      VM_TIMEOUT_S (per boot, default 600), VM_VERBOSE=1 (always print the guest console),
//      VM_BACKENDS=native,node-usb (default both; a backend left out is reported as skipped),
//      VM_FFS_LOG=1 (the FunctionFS emulator logs every transfer and ep0 event to the console),
//      VM_ONLY=uas, sg or handoff (xhci/ehci run only the usb-uas, the SG_IO or the handoff and mount
//      cases: debugging in one short boot),
//      VM_GUEST_SCRIPT (repo-relative script the guest runs instead of guest/scenario.sh: debugging),
//      VM_ACCEL=kvm|tcg (default: KVM when a probe boot shows it works; tools/vm/accel.mjs),
//      VM_INSTALLED (the tree tools/ci/pack-install.mjs installed from the tarballs; default: the
//      one its report, reports/pack.json, names; shared read-only at /installed in the guest).
import { spawn, execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  openSync,
  ftruncateSync,
  closeSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { qemuAccel } from './accel.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const work = resolve(process.env.VM_WORK ?? join(repo, '.vm-work'));
const scenarios = (process.env.VM_SCENARIOS ?? 'xhci,ehci,gadget').split(',').filter(Boolean);
// A hard limit per boot, far above a boot's own time (2-4 min under TCG on an idle 2-core machine),
// so that a hung guest ends the stage while a slow, busy machine still finishes: three boots stay
// within 30 minutes at worst.
const bootTimeoutS = Number(process.env.VM_TIMEOUT_S ?? 600);
const DISK_MIB = 64;
// modprobe, depmod (kmod) live in sbin, which a non-login CI shell may not have on PATH.
process.env.PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;

/**
 * QEMU arguments per scenario: the device under test. xhci and ehci carry two disks: usb-storage
 * (46f4:0001, serial VMTEST1: every BOT, SG_IO and handoff case) and usb-uas (46f4:0003, UAS only:
 * tools/vm/guest/cases/uas.mjs), each on its own image; a second scenario per controller would cost
 * a boot.
 */
function deviceArgs(scenario, disk, uasDisk) {
  const drive = ['-drive', `if=none,id=stick,file=${disk},format=raw,cache=unsafe`];
  const uas = (bus) => [
    '-drive',
    `if=none,id=uasdisk,file=${uasDisk},format=raw,cache=unsafe`,
    '-device',
    `usb-uas,id=uas0,bus=${bus}`,
    '-device',
    'scsi-hd,bus=uas0.0,scsi-id=0,lun=0,drive=uasdisk,serial=VMUAS1',
  ];
  switch (scenario) {
    case 'xhci':
      return [
        '-device',
        'qemu-xhci,id=xhci',
        ...drive,
        '-device',
        'usb-storage,bus=xhci.0,drive=stick,serial=VMTEST1',
        ...uas('xhci.0'),
      ];
    case 'ehci':
      return [
        '-device',
        'usb-ehci,id=ehci',
        ...drive,
        '-device',
        'usb-storage,bus=ehci.0,drive=stick,serial=VMTEST1',
        ...uas('ehci.0'),
      ];
    case 'gadget':
      return []; // dummy_hcd inside the guest: no QEMU USB device
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
}

/** A sparse, zero-filled image of DISK_MIB (the suite writes its own patterns). */
function freshImage(path) {
  rmSync(path, { force: true });
  const fd = openSync(path, 'w');
  ftruncateSync(fd, DISK_MIB * 1024 * 1024);
  closeSync(fd);
}

function fail(message) {
  console.error(`test:vm: ${message}`);
  process.exit(2);
}

let accel;
let installed = null;

function checkPrerequisites() {
  const need = [
    ['qemu-system-x86_64', 'qemu-system-x86'],
    ['cpio', 'cpio'],
    ['modprobe', 'kmod'],
    ['depmod', 'kmod'],
    ['sg_inq', 'sg3-utils'],
    ['busybox', 'busybox-static'],
  ];
  const missing = need.filter(([bin]) => {
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length)
    fail(
      `missing ${missing.map(([b]) => b).join(', ')}: apt-get install ` +
        `${[...new Set(missing.map(([, p]) => p))].join(' ')}`,
    );
  if (!existsSync(join(repo, 'packages/core/dist/index.js')))
    fail('packages/core/dist is missing: run `pnpm build` first.');
}

/** The packed-and-installed packages, if the packaging stage left them. */
function installedTree() {
  if (process.env.VM_INSTALLED) return resolve(process.env.VM_INSTALLED);
  try {
    const dir = JSON.parse(readFileSync(join(repo, 'reports', 'pack.json'), 'utf8')).installDir;
    return dir && existsSync(join(dir, 'node_modules', '.bin', 'usbscsi')) ? dir : null;
  } catch {
    return null;
  }
}

function boot(scenario, kernel, initrd) {
  const disk = join(work, `disk-${scenario}.img`);
  const uasDisk = join(work, `disk-uas-${scenario}.img`);
  freshImage(disk);
  if (scenario !== 'gadget') freshImage(uasDisk);
  const out = join(work, 'out');
  mkdirSync(out, { recursive: true });
  rmSync(join(out, `results-${scenario}.json`), { force: true });
  // What the guest suite reads besides the share: which backends to run (default: all).
  writeFileSync(
    join(out, 'config.json'),
    JSON.stringify({
      backends: process.env.VM_BACKENDS ? process.env.VM_BACKENDS.split(',') : null,
      ffsLog: process.env.VM_FFS_LOG === '1',
      only: process.env.VM_ONLY || null,
    }),
  );
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
    `console=ttyS0 quiet panic=-1 no_timer_check ` +
      `vmscript=${process.env.VM_GUEST_SCRIPT ?? 'tools/vm/guest/scenario.sh'} ` +
      `vmscenario=${scenario}`,
    '-virtfs',
    `local,path=${repo},mount_tag=repo,security_model=none,readonly=on,id=repo`,
    '-virtfs',
    `local,path=${out},mount_tag=out,security_model=none,id=out`,
    ...(installed
      ? ['-virtfs', `local,path=${installed},mount_tag=installed,security_model=none,readonly=on,id=installed`]
      : []),
    ...deviceArgs(scenario, disk, uasDisk),
  ];
  const t0 = Date.now();
  return new Promise((resolveBoot) => {
    const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks = [];
    let timedOut = false;
    const onData = (d) => {
      chunks.push(d);
      if (process.env.VM_VERBOSE) process.stdout.write(d);
    };
    qemu.stdout.on('data', onData);
    qemu.stderr.on('data', onData);
    const timer = setTimeout(() => {
      timedOut = true;
      qemu.kill('SIGKILL');
    }, bootTimeoutS * 1000);
    qemu.on('close', (code) => {
      clearTimeout(timer);
      // The serial console carries NUL bytes: drop them so the log reads as text.
      const consoleText = Buffer.concat(chunks).toString('latin1').replace(/\0/g, '');
      writeFileSync(join(work, `console-${scenario}.log`), consoleText);
      let results = null;
      try {
        results = JSON.parse(readFileSync(join(out, `results-${scenario}.json`), 'utf8'));
      } catch {
        /* reported below */
      }
      resolveBoot({ scenario, code, timedOut, seconds: (Date.now() - t0) / 1000, consoleText, results });
    });
  });
}

function main() {
  const t0 = Date.now();
  checkPrerequisites();
  installed = installedTree();
  console.log(
    installed
      ? `test:vm: the installed packages (${installed}) are shared at /installed`
      : 'test:vm: no installed packages (run tools/ci/pack-install.mjs first): the installed-tree ' +
          'cases will be skipped',
  );
  mkdirSync(work, { recursive: true });
  const tb = Date.now();
  execFileSync('bash', [join(here, 'build-initramfs.sh'), work], { stdio: 'inherit' });
  console.log(`test:vm: initramfs built in ${((Date.now() - tb) / 1000).toFixed(1)} s`);
  const kv = readFileSync(join(work, 'kernel-version'), 'utf8').trim();
  return (async () => {
    try {
      accel = await qemuAccel(`/boot/vmlinuz-${kv}`);
    } catch (err) {
      fail(err.message);
    }
    console.log(`test:vm: QEMU accelerator ${accel.accel} (${accel.why})`);
    const runs = [];
    for (const s of scenarios) {
      console.log(`test:vm: booting scenario ${s}…`);
      const r = await boot(s, `/boot/vmlinuz-${kv}`, join(work, 'initrd.gz'));
      runs.push(r);
      const res = r.results;
      const ok = !r.timedOut && res && res.complete && res.numFailedTests === 0 && res.numTotalTests > 0;
      for (const line of r.consoleText.split('\n'))
        if (/^VM_(TEST|BACKEND|SUMMARY|ERROR|NOTE)/.test(line)) console.log(`  ${line.trimEnd()}`);
      console.log(
        `test:vm: ${s}: ${ok ? 'ok' : 'FAILED'} in ${r.seconds.toFixed(1)} s` +
          (res
            ? ` (total ${res.numTotalTests}, passed ${res.numPassedTests}, failed ${res.numFailedTests}, ` +
              `skipped ${res.numPendingTests}${res.complete ? '' : '; the guest stopped before the suite ended'})`
            : ' (no results file)') +
          (r.timedOut ? ` — QEMU killed after ${bootTimeoutS} s` : ''),
      );
      if (!ok && !process.env.VM_VERBOSE)
        console.log(`----- guest console (${s}) -----\n${r.consoleText}\n----- end of console (${s}) -----`);
    }
    const sum = (k) => runs.reduce((n, r) => n + (r.results?.[k] ?? 0), 0);
    const broken = runs.filter((r) => r.timedOut || !r.results || !r.results.complete || r.results.numTotalTests === 0);
    const combined = {
      success: broken.length === 0 && sum('numFailedTests') === 0,
      numTotalTests: sum('numTotalTests') + broken.length,
      numPassedTests: sum('numPassedTests'),
      // a boot that did not finish its suite counts as one more failure
      numFailedTests: sum('numFailedTests') + broken.length,
      numPendingTests: sum('numPendingTests'),
      durationMs: Date.now() - t0,
      scenarios: runs.map((r) => ({
        scenario: r.scenario,
        seconds: r.seconds,
        timedOut: r.timedOut,
        ...(r.results
          ? {
              complete: r.results.complete,
              numTotalTests: r.results.numTotalTests,
              numPassedTests: r.results.numPassedTests,
              numFailedTests: r.results.numFailedTests,
              numPendingTests: r.results.numPendingTests,
            }
          : { error: 'no results file' }),
      })),
      testResults: [
        ...runs.flatMap((r) => r.results?.testResults ?? []),
        // a boot that did not finish is one failure; name it so the CI summary says which boot
        ...broken.map((r) => ({
          name: `vm scenario ${r.scenario}`,
          assertionResults: [
            {
              fullName: `[${r.scenario}] the guest suite ran to its end`,
              status: 'failed',
              failureMessages: [
                r.timedOut
                  ? `QEMU killed after ${bootTimeoutS} s`
                  : !r.results
                    ? 'no results file'
                    : 'the guest stopped before the suite ended',
              ],
            },
          ],
        })),
      ],
    };
    writeFileSync(join(work, 'results.json'), JSON.stringify(combined, null, 2));
    console.log(
      `test:vm: ${combined.success ? 'PASSED' : 'FAILED'} — total ${combined.numTotalTests}, ` +
        `passed ${combined.numPassedTests}, failed ${combined.numFailedTests}, ` +
        `skipped ${combined.numPendingTests} in ${(combined.durationMs / 1000).toFixed(1)} ` +
        `s; results in ${join(work, 'results.json')}`,
    );
    process.exit(combined.success ? 0 : 1);
  })();
}

main();
