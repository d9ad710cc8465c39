// UAS has no GET MAX LUN (a Bulk-Only class request): a UAS device's LUNs are what REPORT LUNS on
// LUN 0 lists, as the Linux SCSI midlayer finds them on a `uas` host (scsi_report_lun_scan).
import { reportLunsCdb } from '../scsi/cdb-spc.js';
import { parseReportLuns } from '../scsi/parse-misc.js';
import { ScsiStatus, type ScsiRequest, type ScsiResult } from '../transport.js';

/** Enough for 64 LUNs; a longer list is read no further (LUNs beyond it are not addressable here). */
const ALLOCATION_LENGTH = 8 + 8 * 64;
/** REPORT LUNS at open: a device that does not answer it in this time is taken as single-LUN. */
export const REPORT_LUNS_TIMEOUT_MS = 5_000;
const UNIT_ATTENTION = 0x6;

/**
 * The highest single-level LUN (peripheral addressing with bus 0, or flat addressing) that REPORT
 * LUNS lists, for `ScsiTransport.maxLun`; 0 when the device rejects the command, times out or lists
 * nothing usable. A UNIT ATTENTION (the first command after a reset or power-on) is asked once more.
 */
export async function highestReportedLun(execute: (request: ScsiRequest) => Promise<ScsiResult>): Promise<number> {
  for (let attempt = 0; attempt < 2; attempt++) {
    let result: ScsiResult;
    try {
      result = await execute({
        cdb: reportLunsCdb({ allocationLength: ALLOCATION_LENGTH }),
        direction: 'in',
        data: new Uint8Array(ALLOCATION_LENGTH),
        lun: 0,
        timeoutMs: REPORT_LUNS_TIMEOUT_MS,
        autoSense: false,
      });
    } catch {
      return 0;
    }
    if (result.status === ScsiStatus.CHECK_CONDITION && result.sense?.senseKey === UNIT_ATTENTION) continue;
    if (result.status !== ScsiStatus.GOOD || result.transferred < 8) return 0;
    let highest = 0;
    for (const lun of parseReportLuns(result.data.subarray(0, result.transferred)).luns) {
      const singleLevel = (lun.addressMethod === 'peripheral' && lun.bus === 0) || lun.addressMethod === 'flat';
      if (singleLevel && lun.raw.subarray(2).every((b) => b === 0)) highest = Math.max(highest, lun.lun);
    }
    return highest;
  }
  return 0;
}
