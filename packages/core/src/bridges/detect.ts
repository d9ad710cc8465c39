/**
 * Which path reaches the drive's health: SAT (a SATA drive) or one NVMe bridge protocol.
 *
 * Order (`auto`):
 * 1. The VID:PID table: the bridge it names is asked for Identify Controller, then SAT as the
 *    fallback (a Realtek with a SATA drive answers Identify with zeros). Where SATA bridges
 *    share the VID:PID (152d:0583), SAT goes first: JMicron's command block is an ATA hardware
 *    reset to them. E6h (the ASMedia probe) is never sent to a UAS-capable device, whether
 *    or not its entry is known to break (smartmontools #490 is one that did).
 * 2. Unknown devices: SAT IDENTIFY first (a standard, read-only command), then the vendor
 *    probes from the least to the most dangerous: Realtek E4h (data-in), JMicron A1h (its
 *    command block is data-out, but no SATA drive answered, so no ATA reset can hit one),
 *    ASMedia E6h last and never on a UAS-capable interface (or one whose descriptors are
 *    unknown). An ASMedia INQUIRY signature moves E6h first among the vendor probes.
 * Each probe is an Identify Controller whose answer must look like one (a model number and a
 * PCI vendor); only a refusal (CHECK CONDITION) or a reply that is not one moves on to the
 * next: a timeout or a disconnect stops detection.
 */
import { ErrorCodes, UsbScsiError, isUsbScsiError } from '../errors.js';
import { inquiryCdb } from '../scsi/cdb-spc.js';
import type { AtaIdentify } from '../scsi/ata-identify.js';
import type { UsbDeviceInfo } from '../usb/backend.js';
import { AsmediaBridge } from './asmedia.js';
import type { BridgeExchange, BridgeKind, NvmeBridge } from './bridge.js';
import { JmicronBridge } from './jmicron.js';
import { NvmeAdminOpcode } from './nvme-admin.js';
import { isPlausibleIdentify, parseIdentifyController, type NvmeIdentifyController } from './nvme-identify.js';
import { RealtekBridge } from './realtek.js';
import { findBridgeEntry, hasAsmediaInquirySignature, type BridgeTableEntry } from './table.js';
import { usbIdsOf } from '../hex.js';

export type BridgeChoice = 'auto' | 'sat' | BridgeKind;
export const BRIDGE_CHOICES: readonly BridgeChoice[] = ['auto', 'sat', 'jmicron', 'asmedia', 'realtek'];

/** What detection needs from the device; {@link ScsiDevice} provides it. */
export interface BridgeHost {
  exchange: BridgeExchange;
  /** SAT ATA IDENTIFY DEVICE (throws a CHECK CONDITION error where SAT is not passed through). */
  ataIdentify(): Promise<AtaIdentify>;
  usb?: UsbDeviceInfo | undefined;
}

export interface BridgeDetection {
  path: 'sat' | 'nvme';
  /** `forced` (--bridge), `table` (VID:PID), `probe` (unknown device). */
  via: 'forced' | 'table' | 'probe';
  kind?: BridgeKind;
  protocol?: string;
  entry?: BridgeTableEntry;
  /** Every probe tried, in order, with its outcome. */
  steps: string[];
  /** The Identify Controller bytes read while probing (reused, not read twice). */
  identifyData?: Uint8Array;
  ataIdentify?: AtaIdentify;
}

export function createBridge(kind: BridgeKind, exchange: BridgeExchange): NvmeBridge {
  switch (kind) {
    case 'jmicron':
      return new JmicronBridge(exchange);
    case 'asmedia':
      return new AsmediaBridge(exchange);
    case 'realtek':
      return new RealtekBridge(exchange);
  }
}

/** Interface protocol 62h (UAS) in any alternate setting; undefined when the descriptors are unknown. */
export function isUasCapable(usb: UsbDeviceInfo | undefined): boolean | undefined {
  if (!usb) return undefined;
  return usb.configurations.some((c) =>
    c.interfaces.some((i) => i.interfaceClass === 0x08 && i.interfaceProtocol === 0x62),
  );
}

type Probe = { ok: true; identify: NvmeIdentifyController; data: Uint8Array } | { ok: false; why: string };

async function probeBridge(bridge: NvmeBridge): Promise<Probe> {
  try {
    const c = await bridge.adminCommand({
      opcode: NvmeAdminOpcode.IDENTIFY,
      nsid: 0,
      cdw10: 1,
      direction: 'in',
      length: 4096,
    });
    if (c.status !== 0) return { ok: false, why: `Identify Controller status 0x${c.status.toString(16)}` };
    const identify = parseIdentifyController(c.data);
    if (!isPlausibleIdentify(identify))
      return { ok: false, why: 'Identify Controller came back empty (no NVMe drive behind the bridge)' };
    return { ok: true, identify, data: c.data };
  } catch (err) {
    if (isUsbScsiError(err, ErrorCodes.CHECK_CONDITION) || isUsbScsiError(err, ErrorCodes.IO))
      return { ok: false, why: err.message };
    throw err;
  }
}

async function probeSat(host: BridgeHost): Promise<{ ok: true; identify: AtaIdentify } | { ok: false; why: string }> {
  try {
    const identify = await host.ataIdentify();
    if (!identify.model) return { ok: false, why: 'ATA IDENTIFY DEVICE came back without a model' };
    return { ok: true, identify };
  } catch (err) {
    if (isUsbScsiError(err, ErrorCodes.CHECK_CONDITION) || isUsbScsiError(err, ErrorCodes.IO))
      return { ok: false, why: err.message };
    throw err;
  }
}

const PROBE_NAMES: Record<BridgeKind, string> = {
  realtek: 'Realtek E4h Identify',
  jmicron: 'JMicron A1h Identify',
  asmedia: 'ASMedia E6h Identify',
};

export async function detectBridge(host: BridgeHost, choice: BridgeChoice = 'auto'): Promise<BridgeDetection> {
  const steps: string[] = [];
  if (choice === 'sat') return { path: 'sat', via: 'forced', steps: ['SAT chosen (--bridge sat)'] };
  if (choice !== 'auto') {
    const bridge = createBridge(choice, host.exchange);
    return {
      path: 'nvme',
      via: 'forced',
      kind: choice,
      protocol: bridge.protocol,
      steps: [`${bridge.protocol} chosen (--bridge ${choice})`],
    };
  }
  const nvme = (
    bridge: NvmeBridge,
    via: 'table' | 'probe',
    probe: Probe & { ok: true },
    entry?: BridgeTableEntry,
  ): BridgeDetection => ({
    path: 'nvme',
    via,
    kind: bridge.kind,
    protocol: bridge.protocol,
    ...(entry ? { entry } : {}),
    steps,
    identifyData: probe.data,
  });
  const trySat = async (): Promise<BridgeDetection | undefined> => {
    const sat = await probeSat(host);
    steps.push(`SAT ATA IDENTIFY DEVICE: ${sat.ok ? `model "${sat.identify.model}"` : sat.why}`);
    return sat.ok
      ? { path: 'sat', via: entry ? 'table' : 'probe', ...(entry ? { entry } : {}), steps, ataIdentify: sat.identify }
      : undefined;
  };
  const tryBridge = async (kind: BridgeKind, via: 'table' | 'probe'): Promise<BridgeDetection | undefined> => {
    const bridge = createBridge(kind, host.exchange);
    const probe = await probeBridge(bridge);
    steps.push(`${PROBE_NAMES[kind]}: ${probe.ok ? `model "${probe.identify.model}"` : probe.why}`);
    return probe.ok ? nvme(bridge, via, probe, via === 'table' ? entry : undefined) : undefined;
  };

  const usb = host.usb;
  const uas = isUasCapable(usb);
  const entry = usb ? findBridgeEntry(usb.vendorId, usb.productId) : undefined;
  if (entry) {
    steps.push(`VID:PID ${usbIdsOf(entry)} is ${entry.name} (${entry.source})`);
    // Not only the entries known to break (e6BreaksUas): any UAS device may, and E6h is the probe.
    if (entry.bridge === 'asmedia' && uas !== false) {
      steps.push(
        entry.e6BreaksUas
          ? "not probing E6h: it broke this device's UAS mode (smartmontools #490); pass --bridge " +
              'asmedia to accept the risk'
          : 'not probing ASMedia E6h: the device has a UAS interface and E6h broke UAS devices ' +
              '(smartmontools #490); pass --bridge asmedia to try it',
      );
      const sat = await trySat();
      if (sat) return sat;
      return refuse(steps);
    }
    if (entry.sataFirst) {
      const sat = await trySat();
      if (sat) return sat;
    }
    const found = await tryBridge(entry.bridge, 'table');
    if (found) return found;
    if (!entry.sataFirst) {
      const sat = await trySat();
      if (sat) return sat;
    }
    return refuse(steps);
  }

  steps.push(
    usb
      ? `VID:PID ${usbIdsOf(usb)} is not in the bridge table: probing`
      : 'no USB descriptors (SG_IO or the daemon): probing',
  );
  const sat = await trySat();
  if (sat) return sat;
  let asmediaSignature = false;
  try {
    const inq = await host.exchange(inquiryCdb({ allocationLength: 38 }), {
      direction: 'in',
      length: 38,
      effect: 'read',
    });
    asmediaSignature = inq.status === 0 && hasAsmediaInquirySignature(inq.data);
    if (asmediaSignature) steps.push('INQUIRY bytes 36-37 are 60h 23h: an ASMedia bridge');
  } catch (err) {
    if (!isUsbScsiError(err, ErrorCodes.CHECK_CONDITION)) throw err;
  }
  const order: BridgeKind[] = asmediaSignature ? ['asmedia', 'realtek', 'jmicron'] : ['realtek', 'jmicron', 'asmedia'];
  for (const kind of order) {
    if (kind === 'asmedia' && uas !== false) {
      steps.push(
        `not probing ASMedia E6h: ${uas ? 'the device has a UAS interface' : 'its interfaces are unknown'} ` +
          `and E6h broke UAS devices (smartmontools #490); pass --bridge asmedia to try it`,
      );
      continue;
    }
    const found = await tryBridge(kind, 'probe');
    if (found) return found;
  }
  return refuse(steps);
}

function refuse(steps: string[]): never {
  throw new UsbScsiError(
    ErrorCodes.UNSUPPORTED,
    `no path to the drive's health: neither SAT nor an NVMe bridge protocol ` +
      `answered (${steps.join('; ')}). Name one with --bridge sat|jmicron|asmedia|realtek ` +
      `if you know the bridge.`,
    {
      details: { steps },
    },
  );
}
