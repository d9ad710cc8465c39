// Which QEMU accelerator the guests run under. KVM when /dev/kvm opens read-write (a guest
// that runs 10–50× faster and, for the bench, measures the USB stacks rather than the binary
// translator); TCG otherwise. VM_ACCEL=kvm|tcg forces one (kvm without /dev/kvm is an error).
import { closeSync, constants, openSync } from 'node:fs';

export function kvmUsable() {
  try {
    closeSync(openSync('/dev/kvm', constants.O_RDWR));
    return true;
  } catch {
    return false;
  }
}

/** @returns {{ accel: 'kvm' | 'tcg', args: string[] }} */
export function qemuAccel(env = process.env) {
  const want = env.VM_ACCEL;
  if (want !== undefined && want !== 'kvm' && want !== 'tcg') {
    throw new Error(`VM_ACCEL must be kvm or tcg, not ${JSON.stringify(want)}`);
  }
  const kvm = want === 'kvm' || (want === undefined && kvmUsable());
  if (want === 'kvm' && !kvmUsable()) {
    throw new Error('VM_ACCEL=kvm but /dev/kvm cannot be opened read-write (no KVM here, or no permission): unset VM_ACCEL to use TCG');
  }
  return kvm ? { accel: 'kvm', args: ['-accel', 'kvm', '-cpu', 'host'] } : { accel: 'tcg', args: ['-accel', 'tcg'] };
}
