/**
 * One health summary whatever the drive: SAT SMART for a SATA drive, the NVMe SMART / health
 * log for an NVMe drive behind a bridge, and which path was used.
 */
import { ErrorCodes, UsbScsiError } from '../errors.js';
import type { SmartReport } from '../scsi/ata-smart.js';
import { createBridge, detectBridge, type BridgeChoice, type BridgeDetection, type BridgeHost } from './detect.js';
import { NvmeDevice } from './nvme-device.js';
import { isPlausibleIdentify, type NvmeIdentifyController } from './nvme-identify.js';
import type { NvmeSmartLog } from './nvme-logs.js';

export type HealthReport =
  | { path: 'sat'; detection: BridgeDetection; sat: SmartReport }
  | {
      path: 'nvme';
      detection: BridgeDetection;
      identify: NvmeIdentifyController;
      smart: NvmeSmartLog;
      /** No critical warning bit is set. */
      passed: boolean;
    };

/** Opens the NVMe side: the bridge `choice` names, or the one detection finds (SAT is refused here). */
export async function openNvme(host: BridgeHost, choice: BridgeChoice = 'auto'): Promise<NvmeDevice> {
  const detection = await detectBridge(host, choice);
  if (detection.path !== 'nvme' || !detection.kind) {
    throw new UsbScsiError(
      ErrorCodes.UNSUPPORTED,
      `the drive answers as SATA (${detection.steps.join('; ')}): use \`usbscsi ` +
        `smart\` for its SAT SMART data, or name the bridge with --bridge if this is wrong`,
      {
        details: { steps: detection.steps },
      },
    );
  }
  return new NvmeDevice(createBridge(detection.kind, host.exchange), detection);
}

export async function readHealth(
  host: BridgeHost & { satSmart(): Promise<SmartReport> },
  choice: BridgeChoice = 'auto',
): Promise<HealthReport> {
  const detection = await detectBridge(host, choice);
  if (detection.path === 'sat') return { path: 'sat', detection, sat: await host.satSmart() };
  const nvme = new NvmeDevice(createBridge(detection.kind!, host.exchange), detection);
  const identify = await nvme.identifyController();
  if (!isPlausibleIdentify(identify)) {
    // Only a forced bridge gets here (detection rejects these): a Realtek with a SATA drive does this.
    throw new UsbScsiError(
      ErrorCodes.UNSUPPORTED,
      `${detection.protocol} answered Identify Controller with no model or PCI vendor: ` +
        `no NVMe drive behind it (a SATA drive? try --bridge sat)`,
    );
  }
  const smart = await nvme.smartLog();
  const { raw: _raw, ...log } = smart;
  return { path: 'nvme', detection, identify, smart: log, passed: log.criticalWarning === 0 };
}
