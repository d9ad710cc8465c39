/**
 * What a contract case needs from the place it runs, and what it declares it needs. The cases
 * are plain async functions over a {@link ContractEnv}: no test framework. An adapter (vitest in
 * process, the VM guest's runner) builds the env, asks {@link whyNotRunnable} for each case and
 * reports a case it cannot run as skipped with that reason.
 */
import type { UasTransportOptions } from '../../uas/uas-transport.js';
import type { UsbBackend, UsbDeviceInfo } from '../../usb/backend.js';

/** A fault, as data: the emulator's FaultSpec (`kind`, `opcode`, `phase`, `bytes`, `ms`, `stalls`…). */
export interface ContractFault {
  kind: string;
  opcode?: number;
  phase?: 'cbw' | 'data' | 'csw';
  bytes?: number;
  ms?: number;
  stalls?: number;
  /** uas-response: the Response IU code sent instead of the command's status. */
  responseCode?: number;
}

/** Counters of a device that counts what reached it. */
export interface DeviceCounters {
  /** Valid CBWs received. */
  commands: number;
  /** Bulk-Only Mass Storage Resets performed. */
  resets: number;
  /** UAS: Command IUs received. */
  uasCommands?: number;
  /** UAS: most commands the device held at once. */
  maxOutstanding?: number;
}

/** A device whose faults can be programmed from the test (the emulator, in process or behind FunctionFS). */
export interface ProgrammableDevice {
  /** Fault kinds this device cannot produce where it runs, with the reason. */
  cannot?: Record<string, string>;
  inject(fault: ContractFault): Promise<void>;
  counters(): Promise<DeviceCounters>;
}

export interface ContractEnv {
  /** Printed in case names and messages: `emulator`, `gadget/native`, `ehci/node-usb`. */
  name: string;
  backend: UsbBackend;
  /** Picks the device under test from `list()` (default: the first with a BOT interface 08/06/50). */
  select?: (devices: UsbDeviceInfo[]) => UsbDeviceInfo | undefined;
  /** Detach a bound kernel driver for each case and give it back afterwards (default true). */
  detachKernelDriver?: boolean;
  /**
   * What the device does with an IN when it has nothing to send: `nak` (the transfer stays
   * pending: the emulator) or `stall` (QEMU's usb-storage). Cases that need a pending IN skip
   * on `stall`.
   */
  idleIn: 'nak' | 'stall';
  /** How the device takes a CBW with a bad signature: `ok` then halts (BOT §6.6.1), or a `stall` of the OUT. */
  invalidCbwOut: 'ok' | 'stall';
  /**
   * The device answers the §6.7 mismatches as BOT 1.0 says and the emulator does (phase error,
   * stall then CSW, short packet). Unset: the reason the thirteen cases cannot be checked on it.
   */
  followsBotCases: true | string;
  /** Programmable faults; unset: why there are none (cases that need one skip with it). */
  device: ProgrammableDevice | string;
  /** Cases not to run here, by id, with the reason (reported as skipped). */
  skip?: Record<string, string>;
  /** Budget of ordinary transfers and commands (default 5000 ms). */
  timeoutMs?: number;
  /** Runs after each case that opened the device (e.g. wait for the kernel's disk to come back). */
  afterCase?: () => Promise<void>;
  /**
   * The transports the device speaks (default `['bot']`): `uas` cases need `uas`, the others
   * `bot` (a UAS-only device such as QEMU's usb-uas has no Bulk-Only alternate setting).
   */
  transports?: readonly ('bot' | 'uas')[];
  /** Options for `UasTransport.open` in the `uas` cases (e.g. `queueDepth`, `taskManagementTimeoutMs`). */
  uas?: UasTransportOptions;
}

export type CaseLevel = 'backend' | 'exchange' | 'uas';

export interface ContractCase {
  /** Stable id, for skip lists and reports. */
  id: string;
  level: CaseLevel;
  title: string;
  /** Fault kinds the case injects (it needs a programmable device that can produce them). */
  faults?: string[];
  /** The case needs the device to NAK an idle IN. */
  needsNak?: boolean;
  /** The case checks the §6.7 answers of a device that follows them. */
  needsBotCases?: boolean;
  /** Throws to fail; calls `ctx.skip(reason)` to skip from inside. */
  run(ctx: import('./context.js').CaseContext): Promise<void>;
}

/** Thrown by `ctx.skip(reason)`; adapters report the case as skipped with the reason. */
export class ContractSkip extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'ContractSkip';
  }
}

/** Why `c` cannot run in `env`, or undefined when it can. */
export function whyNotRunnable(c: ContractCase, env: ContractEnv): string | undefined {
  const listed = env.skip?.[c.id];
  if (listed) return listed;
  const transports = env.transports ?? ['bot'];
  if (c.level === 'uas' && !transports.includes('uas')) return 'the device has no UAS interface (protocol 0x62)';
  if (c.level !== 'uas' && !transports.includes('bot')) return 'the device speaks UAS only (no Bulk-Only alternate)';
  if (c.needsNak && env.idleIn !== 'nak')
    return 'the device stalls an idle IN instead of NAKing, so no transfer stays pending';
  if (c.needsBotCases && env.followsBotCases !== true) return env.followsBotCases;
  if (c.faults?.length) {
    if (typeof env.device === 'string') return env.device;
    for (const kind of c.faults) {
      const cannot = env.device.cannot?.[kind];
      if (cannot) return `fault ${kind}: ${cannot}`;
    }
  }
  return undefined;
}
