import { access, constants } from 'node:fs';
import { BotTransport } from './bot/bot-transport.js';
import type { BotEvent } from './bot/events.js';
import { DEFAULT_MAX_TRANSFER_BYTES, type BotQuirks } from './bot/quirks.js';
import { ScsiDevice } from './device.js';
import { ErrorCodes, UsbScsiError, badInput, isUsbScsiError } from './errors.js';
import type { AcquireLeaseOptions, Lease } from './handoff/lease.js';
import { asMassStorage, parseSelector, selectDevice, type MassStorageDeviceInfo } from './select.js';
import type { UsbBackend, UsbDeviceHandle } from './usb/backend.js';
import { usbIdsOf } from './hex.js';
import type { UasEvent } from './uas/events.js';
import { uasUnsupportedReason } from './uas/setup.js';
import type { UasTransport } from './uas/uas-transport.js';

// The backends, the handoff lease and SG_IO load when an open needs them: a process that opens
// one kind of device (the CLI's `--device sim`, a BOT disk nobody holds) parses only its own path.

export type BackendChoice = UsbBackend | 'auto' | 'native' | 'node-usb';
export type TransportChoice = 'auto' | 'bot' | 'uas' | 'sg';
const TRANSPORT_CHOICES: readonly TransportChoice[] = ['auto', 'bot', 'uas', 'sg'];

/**
 * How to take the interface from the OS when BOT needs it: `unmount` (sync +
 * unmount instead of refusing with E_MOUNTED), `remount` on release (default:
 * same as unmount), and, for tests or special setups, the platform, journal
 * and timeouts of the lease.
 */
export type LeaseOptions = Pick<
  AcquireLeaseOptions,
  'unmount' | 'remount' | 'platform' | 'journal' | 'registry' | 'timeouts' | 'onStateChange' | 'onNotice'
>;

export interface OpenDeviceOptions {
  /** VID:PID[:SERIAL], bus-port path, /dev/sdX, /dev/sgN; may be omitted when one device is visible. */
  selector?: string;
  backend?: BackendChoice;
  transport?: TransportChoice;
  lun?: number;
  interfaceNumber?: number;
  lease?: LeaseOptions;
  quirks?: Partial<BotQuirks>;
  tuning?: { chunkSize?: number; depth?: number; maxTransferBytes?: number };
  /** Wraps the backend (tracing). */
  wrapBackend?: (backend: UsbBackend) => UsbBackend;
  /** Timeout of each command sent without one of its own (see ScsiDeviceOptions). */
  commandTimeoutMs?: number;
  /** What BOT does besides the commands (reset recovery, clear halt, CSW retry...), for `--verbose`. */
  onBotEvent?: (event: BotEvent) => void;
  /** UAS: commands in flight at once (default 16, at most the device's streams where it has them). */
  queueDepth?: number;
  /** What UAS does besides the commands (streams, ABORT TASK, LOGICAL UNIT RESET, port reset), for `--verbose`. */
  onUasEvent?: (event: UasEvent) => void;
}

type BackendLoad = { backend: UsbBackend | null; reason?: string };

async function loadByName(name: 'native' | 'node-usb'): Promise<BackendLoad> {
  try {
    // The addon and the `usb` package load here, on first use: both are optional, and a missing one is a reason, not a
    // crash.
    if (name === 'native') return await (await import('./backends/native.js')).loadNativeBackend();
    return await (await import('./backends/node-usb.js')).loadNodeUsbBackend();
  } catch (err) {
    return { backend: null, reason: (err as Error).message };
  }
}

/** Resolves a backend choice; `auto` prefers the native engine and falls back to node-usb. */
export async function resolveBackend(choice: BackendChoice = 'auto'): Promise<UsbBackend> {
  if (typeof choice === 'object') return choice;
  if (choice === 'native' || choice === 'node-usb') {
    const loaded = await loadByName(choice);
    if (!loaded.backend) {
      throw new UsbScsiError(
        choice === 'native' ? ErrorCodes.NO_NATIVE : ErrorCodes.UNSUPPORTED,
        `the ${choice} backend is not available: ${loaded.reason ?? 'unknown reason'}`,
      );
    }
    return loaded.backend;
  }
  if (choice !== 'auto') throw badInput(`unknown backend '${String(choice)}': use auto, native or node-usb`);
  const reasons: string[] = [];
  for (const name of ['native', 'node-usb'] as const) {
    const loaded = await loadByName(name);
    if (loaded.backend) return loaded.backend;
    reasons.push(`${name}: ${loaded.reason ?? 'unavailable'}`);
  }
  throw new UsbScsiError(ErrorCodes.UNSUPPORTED, `no USB backend could be loaded (${reasons.join('; ')})`);
}

export async function listMassStorageDevices(choice: BackendChoice = 'auto'): Promise<MassStorageDeviceInfo[]> {
  const backend = await resolveBackend(choice);
  return (await backend.list()).map(asMassStorage).filter((d): d is MassStorageDeviceInfo => d !== null);
}

/**
 * Opens one SCSI device. Selection is exact (E_NOT_FOUND / E_AMBIGUOUS with
 * candidates). `auto` keeps SG_IO when the kernel owns the device on Linux and
 * has a node for it (no detach at all); otherwise it takes UAS when the device
 * has a UAS alternate setting and the backend can run it, else BOT. `bot`,
 * `uas` and `sg` force one. BOT and UAS on an interface the OS holds go through
 * a handoff lease: refused with E_MOUNTED while anything is mounted, unless
 * `lease.unmount` is set. `ScsiDevice.transportKind` says which was taken.
 */
export async function openDevice(options: OpenDeviceOptions = {}): Promise<ScsiDevice> {
  const selector = parseSelector(options.selector);
  const transportChoice = options.transport ?? 'auto';
  if (!TRANSPORT_CHOICES.includes(transportChoice))
    throw badInput(`unknown transport '${String(transportChoice)}': use auto, bot, uas or sg`);
  const depth = options.queueDepth;
  if (depth !== undefined && (!Number.isInteger(depth) || depth < 1 || depth > 256))
    throw badInput(`a queue depth is 1 to 256 commands; got ${depth}`);
  const lun = options.lun ?? 0;
  const maxTransferBytes = options.tuning?.maxTransferBytes ?? DEFAULT_MAX_TRANSFER_BYTES;
  const timeout = options.commandTimeoutMs !== undefined ? { commandTimeoutMs: options.commandTimeoutMs } : {};

  // A /dev path with SG_IO needs no USB backend at all.
  if (
    selector.kind === 'path' &&
    transportChoice !== 'bot' &&
    transportChoice !== 'uas' &&
    typeof options.backend !== 'object'
  ) {
    if (transportChoice === 'sg' || process.platform === 'linux') {
      return openPassThrough(selector.path, lun, maxTransferBytes, timeout);
    }
  }

  let backend = await resolveBackend(options.backend ?? 'auto');
  if (options.wrapBackend) backend = options.wrapBackend(backend);
  const devices = (await backend.list()).map(asMassStorage).filter((d): d is MassStorageDeviceInfo => d !== null);
  const device = selectDevice(devices, selector);

  const binding = device.storage?.find(
    (b) => options.interfaceNumber === undefined || b.interfaceNumber === options.interfaceNumber,
  );
  const kernelOwns = Boolean(binding?.driver);
  const sgPath = binding?.sgDevices[0] ?? binding?.blockDevices[0];
  const wantSg =
    transportChoice === 'sg' ||
    (transportChoice === 'auto' && kernelOwns && sgPath !== undefined && process.platform === 'linux');
  if (wantSg) {
    if (!sgPath) {
      throw new UsbScsiError(
        ErrorCodes.UNSUPPORTED,
        `SG_IO needs a kernel-owned device with an sg or block node; ${device.location} has none (use transport bot)`,
      );
    }
    return openPassThrough(
      sgPath.startsWith('/dev/') ? sgPath : `/dev/${sgPath}`,
      lun,
      maxTransferBytes,
      timeout,
      device,
    );
  }

  const speaking = (protocol: 'bot' | 'uas') =>
    device.interfaces.find(
      (i) =>
        i.protocols.includes(protocol) &&
        (options.interfaceNumber === undefined || i.interfaceNumber === options.interfaceNumber),
    );
  const bot = speaking('bot');
  const uas = speaking('uas');
  if (transportChoice === 'uas' && !uas) {
    throw new UsbScsiError(
      ErrorCodes.UNSUPPORTED,
      `${usbIdsOf(device)} at ${device.location} has no USB Attached SCSI alternate setting ` +
        `(protocol 0x62): use --transport bot (or auto)`,
    );
  }
  if ((transportChoice === 'bot' || !uas) && !bot) refuseUasOnly(device, options.interfaceNumber);
  const interfaceNumber =
    (transportChoice === 'uas' ? uas : (bot ?? uas))?.interfaceNumber ??
    options.interfaceNumber ??
    device.interfaces[0]!.interfaceNumber;

  // The lease comes before the handle: on macOS capturing the device re-enumerates it and
  // ends every handle already open on it. Whether the OS holds the interface comes from the
  // storage bindings where the backend has them, else from the handle itself.
  let lease: Lease | undefined;
  let handle: UsbDeviceHandle | undefined;
  let target = device;
  try {
    const storageBinding = device.storage?.find((b) => b.interfaceNumber === interfaceNumber);
    let osHolds = Boolean(storageBinding?.driver);
    // The OS shows no driver on the interface: a holder that died may have left it so. Its lease
    // must be recovered (and ours taken) rather than started on silently.
    if (storageBinding && !osHolds && (await leftInJournal(device, interfaceNumber, options.lease ?? {})))
      osHolds = true;
    if (device.storage === undefined) {
      handle = await backend.open(device);
      osHolds = handle.capabilities.kernelDriver && (await handle.kernelDriverActive(interfaceNumber));
      if (osHolds) {
        await handle.close();
        handle = undefined;
      }
    }
    if (osHolds) {
      const { acquireLease, leaseDeviceOf } = await import('./handoff/lease.js');
      lease = await acquireLease(leaseDeviceOf(device, interfaceNumber), options.lease ?? {});
      ({ handle, target } = await openAfterCapture(backend, device));
    }
    handle ??= await backend.open(target);
    // A release triggered by a signal must drop our claim first: the kernel will not
    // re-bind its driver to an interface this process still holds.
    const opened = handle;
    lease?.onRelease(() => opened.close().catch(() => undefined));
    // auto: UAS where the device has it and the backend can run it (node-usb cannot), else BOT.
    const unsupported = uasUnsupportedReason(handle);
    if (transportChoice === 'uas' && unsupported) throw new UsbScsiError(ErrorCodes.UNSUPPORTED, unsupported);
    if (uas && (transportChoice === 'uas' || (transportChoice === 'auto' && !unsupported))) {
      // Loaded only for a UAS device: most runs (BOT, SG_IO, the emulator) never need it.
      const { UasTransport } = await import('./uas/uas-transport.js');
      const transport = await UasTransport.open(handle, {
        interfaceNumber,
        detachKernelDriver: lease !== undefined,
        ...(depth !== undefined ? { queueDepth: depth } : {}),
        ...(options.onUasEvent ? { onEvent: options.onUasEvent } : {}),
      });
      return deviceOver(transport, 'uas', maxTransferBytes, lun, timeout, backend.name, target, lease);
    }
    if (!bot) {
      throw new UsbScsiError(
        ErrorCodes.UNSUPPORTED,
        `${unsupported ?? 'UAS is not available here'}; the device has no Bulk-Only alternate setting to fall back to`,
      );
    }
    const transport = await BotTransport.open(handle, {
      interfaceNumber,
      ...(options.quirks ? { quirks: options.quirks } : {}),
      // Only reachable with the lease held (it unmounted what was mounted), so detaching is safe.
      detachKernelDriver: lease !== undefined,
      ...(options.tuning?.chunkSize ? { chunkSize: options.tuning.chunkSize } : {}),
      ...(options.tuning?.depth ? { depth: options.tuning.depth } : {}),
      ...(options.onBotEvent ? { onEvent: options.onBotEvent } : {}),
    });
    return deviceOver(
      transport,
      'bot',
      Math.min(maxTransferBytes, transport.quirks.maxTransferBytes),
      lun,
      timeout,
      backend.name,
      target,
      lease,
    );
  } catch (err) {
    await handle?.close().catch(() => undefined);
    if (lease) await lease.release().catch(() => undefined);
    throw err;
  }
}

function deviceOver(
  transport: BotTransport | UasTransport,
  kind: 'bot' | 'uas',
  maxTransferBytes: number,
  lun: number,
  timeout: { commandTimeoutMs?: number },
  backendName: string,
  usb: MassStorageDeviceInfo,
  held: Lease | undefined,
): ScsiDevice {
  return new ScsiDevice(transport, {
    lun,
    maxTransferBytes,
    ...timeout,
    description: { backend: backendName, transport: kind, usb },
    // Under BOT or UAS the interface is ours: nothing of the OS is mounted from it (the lease saw to that).
    mounts: async () => [],
    ...(held
      ? {
          onClose: async () => {
            await held.release();
          },
        }
      : {}),
  });
}

/**
 * Opens the device the listing found, once the lease holds it. On Linux the address stays; a
 * macOS capture re-enumerates the device, the old address is gone, and only then is it listed
 * again, by where it is plugged.
 */
async function openAfterCapture(
  backend: UsbBackend,
  device: MassStorageDeviceInfo,
): Promise<{ handle: UsbDeviceHandle; target: MassStorageDeviceInfo }> {
  try {
    const handle = await backend.open(device);
    return { handle, target: asMassStorage(handle.info) ?? device };
  } catch (err) {
    if (!isUsbScsiError(err) || err.code !== ErrorCodes.DEVICE_GONE) throw err;
  }
  const again = (await backend.list()).map(asMassStorage).filter((d): d is MassStorageDeviceInfo => d !== null);
  const target = selectDevice(again, {
    kind: 'location',
    busNumber: device.busNumber,
    portNumbers: device.portNumbers,
  });
  return { handle: await backend.open(target), target };
}

/** Whether the lease journal has an entry (any holder, any state) for this interface on this OS. */
async function leftInJournal(
  device: MassStorageDeviceInfo,
  interfaceNumber: number,
  options: LeaseOptions,
): Promise<boolean> {
  if (options.journal === null) return false;
  const [{ defaultHandoffPlatform }, { LeaseJournal }, { leaseDeviceOf, sameLeaseDevice }] = await Promise.all([
    import('./handoff/default-platform.js'),
    import('./handoff/journal.js'),
    import('./handoff/lease.js'),
  ]);
  const platform = options.platform ?? (await defaultHandoffPlatform());
  const journal = options.journal ?? new LeaseJournal({ processIdentity: (pid) => platform.processIdentity(pid) });
  const wanted = leaseDeviceOf(device, interfaceNumber);
  return (await journal.list()).some((e) => e.platform === platform.name && sameLeaseDevice(e.device, wanted));
}

/**
 * Refuses, before any lease or detach, an interface that speaks UAS only (protocol 0x62 with no
 * Bulk-Only alternate setting): unbinding `uas` only to refuse afterwards would take the disk
 * away for nothing, and `E_MOUNTED` advice would lead nowhere.
 */
function refuseUasOnly(device: MassStorageDeviceInfo, interfaceNumber: number | undefined): void {
  const wanted = device.interfaces.filter(
    (i) => interfaceNumber === undefined || i.interfaceNumber === interfaceNumber,
  );
  const uas = wanted.find((i) => i.protocols.includes('uas'));
  if (!uas) return;
  const binding = device.storage?.find((b) => b.interfaceNumber === uas.interfaceNumber);
  const node = binding?.sgDevices[0] ?? binding?.blockDevices[0];
  const path = node ? (node.startsWith('/dev/') ? node : `/dev/${node}`) : undefined;
  throw new UsbScsiError(
    ErrorCodes.UNSUPPORTED,
    `${usbIdsOf(device)} at ${device.location} interface ${uas.interfaceNumber} ` +
      `speaks USB Attached SCSI (UAS, protocol 0x62) only, with no Bulk-Only ` +
      (`alternate setting: usbscsi cannot drive it over BOT, so nothing ` +
        `was touched${binding?.driver ? ` (${binding.driver} still holds it)` : ''}. `) +
      `Use --transport uas (transport: 'uas', native backend), or on Linux SG_IO through the ` +
      `kernel's own node (--transport sg${path ? `; e.g. --device ${path}` : ''}), which needs no detach.`,
    { details: { interfaceNumber: uas.interfaceNumber, protocols: uas.protocols, ...(path ? { sgPath: path } : {}) } },
  );
}

async function openPassThrough(
  path: string,
  lun: number,
  maxTransferBytes: number,
  timeout: { commandTimeoutMs?: number },
  usb?: MassStorageDeviceInfo,
): Promise<ScsiDevice> {
  try {
    // node:fs, not node:fs/promises: every open loads this module, and fs/promises (with readline
    // and the fs watchers behind it) is a measurable part of a short command's start.
    await new Promise<void>((resolve, reject) =>
      access(path, constants.R_OK | constants.W_OK, (err) => (err ? reject(err) : resolve())),
    );
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new UsbScsiError(
        ErrorCodes.PERMISSION,
        `no read/write access to ${path}: run as root, or add yourself to the 'disk' group ` +
          `(sg and sd nodes are root:disk 0660)`,
        { cause: err },
      );
    }
    throw new UsbScsiError(
      ErrorCodes.NOT_FOUND,
      `${path} does not exist (unplugged, or the kernel driver is not bound); \`usbscsi list\` shows what is there`,
      { cause: err },
    );
  }
  const [{ PassThroughTransport }, { linuxMediumWriteClaim }, { loadNativeAddon }] = await Promise.all([
    import('./sg/passthrough.js'),
    import('./topology/linux-node-mounts.js'),
    import('./backends/native-addon.js'),
  ]);
  const transport = await PassThroughTransport.open(path);
  // The transport runs on the addon, which also tells when the mount table changed.
  const loaded = loadNativeAddon();
  const pollPriority = loaded.ok ? loaded.addon.pollPriority?.bind(loaded.addon) : undefined;
  const claimMedium = linuxMediumWriteClaim(
    usb ? { busNumber: usb.busNumber, portNumbers: usb.portNumbers } : { path },
    pollPriority ? { mountTableChanged: pollPriority } : {},
  );
  return new ScsiDevice(transport, {
    lun,
    maxTransferBytes,
    ...timeout,
    description: { backend: 'sg', transport: 'sg', path, ...(usb ? { usb } : {}) },
    claimMedium,
    onClose: async () => claimMedium.close(),
  });
}

export type { UsbDeviceHandle };
