// Which QEMU accelerator the guests run under: KVM when it actually runs a kernel here (a guest
// 10–50× faster that, for the bench, measures the USB stacks rather than the binary translator),
// TCG otherwise. /dev/kvm opening is not enough: on a host that is itself a VM without working
// nested virtualisation, /dev/kvm opens and QEMU starts, but the guest kernel never prints a line
// (seen here: 18 CPU-minutes, no output). So the probe boots the guest kernel under KVM with
// earlyprintk and waits for its banner. VM_ACCEL=kvm|tcg skips the probe.
import { spawn } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';

const PROBE_TIMEOUT_MS = 8000; // the banner comes within ~1 s under working KVM, ~3 s under TCG

function devKvmOpens() {
  try {
    closeSync(openSync('/dev/kvm', constants.O_RDWR));
    return true;
  } catch {
    return false;
  }
}

/** Boots `kernel` under KVM until it prints "Linux version"; resolves true if it did in time. */
export function kvmBootsKernel(kernel, timeoutMs = PROBE_TIMEOUT_MS) {
  return new Promise((resolveProbe) => {
    const qemu = spawn(
      'qemu-system-x86_64',
      [
        '-accel',
        'kvm',
        '-cpu',
        'host',
        '-machine',
        'q35',
        '-m',
        '256',
        '-nographic',
        '-no-reboot',
        '-kernel',
        kernel,
        '-append',
        'console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let text = '';
    let done = false;
    const finish = (ok) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      qemu.kill('SIGKILL');
      resolveProbe(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    qemu.stdout.on('data', (d) => {
      text += d.toString('latin1');
      if (text.includes('Linux version')) finish(true);
    });
    qemu.stderr.resume();
    qemu.on('error', () => finish(false));
    qemu.on('close', () => finish(false));
  });
}

/** @returns {Promise<{ accel: 'kvm' | 'tcg', args: string[], why: string }>} */
export async function qemuAccel(kernel, env = process.env) {
  const want = env.VM_ACCEL;
  if (want !== undefined && want !== 'kvm' && want !== 'tcg') {
    throw new Error(`VM_ACCEL must be kvm or tcg, not ${JSON.stringify(want)}`);
  }
  const kvm = { accel: 'kvm', args: ['-accel', 'kvm', '-cpu', 'host'] };
  const tcg = { accel: 'tcg', args: ['-accel', 'tcg'] };
  if (want === 'tcg') return { ...tcg, why: 'VM_ACCEL=tcg' };
  if (want === 'kvm') return { ...kvm, why: 'VM_ACCEL=kvm' };
  if (!devKvmOpens()) return { ...tcg, why: 'no usable /dev/kvm' };
  if (await kvmBootsKernel(kernel)) return { ...kvm, why: 'KVM boots the guest kernel' };
  return {
    ...tcg,
    why:
      `/dev/kvm opens but a kernel under KVM printed nothing in ${PROBE_TIMEOUT_MS / 1000} ` +
      `s (nested virtualisation not working)`,
  };
}
