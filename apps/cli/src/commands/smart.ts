/** smart: SAT ATA IDENTIFY + SMART data/thresholds/health (USB-SATA bridges), as a smartctl-like table. */
import type { Command } from 'commander';
import { CheckConditionError, type SmartReport } from '@usbscsi/core';
import { fields, formatBytes, table } from '../format/table.js';
import type { Wrap } from './index.js';

export function smartJson(r: SmartReport) {
  const thresholds = new Map((r.thresholds?.thresholds ?? []).map((t) => [t.id, t.threshold]));
  return {
    identify: {
      model: r.identify.model,
      serial: r.identify.serial,
      firmware: r.identify.firmware,
      userSectors: Number(r.identify.userSectors),
      logicalSectorSize: r.identify.logicalSectorSize,
      physicalSectorSize: r.identify.physicalSectorSize,
      userCapacityBytes: Number(r.identify.userCapacityBytes),
      rotationRate: r.identify.rotationRate ?? null,
      majorVersion: r.identify.majorVersion ?? null,
      sataSpeeds: r.identify.sataSpeeds,
      smartSupported: r.identify.smartSupported,
      smartEnabled: r.identify.smartEnabled,
    },
    health: r.status.status,
    selfTest: r.data.selfTestStatusText,
    attributes: r.data.attributes.map((a) => ({
      id: a.id,
      name: a.name,
      flags: a.flags,
      prefailure: a.prefailure,
      current: a.current,
      worst: a.worst,
      threshold: thresholds.get(a.id) ?? null,
      raw: a.raw.toString(),
    })),
  };
}

export function registerSmart(program: Command, wrap: Wrap): void {
  program
    .command('smart')
    .description('ATA IDENTIFY and SMART attributes through SAT (USB-SATA bridges)')
    .action(
      wrap((ctx) =>
        ctx.withDevice(async (device) => {
          let report: SmartReport;
          try {
            report = await device.smart();
          } catch (err) {
            if (err instanceof CheckConditionError && err.sense?.senseKey === 0x05 && !ctx.json) {
              ctx.io.stderr.write('usbscsi: this device or bridge does not pass ATA commands through (no SAT ATA PASS-THROUGH); SMART is not reachable over it.\n');
            }
            throw err;
          }
          const doc = smartJson(report);
          ctx.emit(doc, () => {
            const id = report.identify;
            const head = fields([
              ['Model', id.model],
              ['Serial', id.serial],
              ['Firmware', id.firmware],
              ['Capacity', `${id.userCapacityBytes} bytes (${formatBytes(id.userCapacityBytes)}), ${id.logicalSectorSize}/${id.physicalSectorSize} logical/physical sector`],
              ['Rotation', id.rotationRate === undefined ? undefined : id.rotationRate === 'ssd' ? 'solid state' : `${id.rotationRate} rpm`],
              ['SMART', `${id.smartSupported ? 'supported' : 'not supported'}, ${id.smartEnabled ? 'enabled' : 'disabled'}`],
              ['Health', report.status.status === 'passed' ? 'PASSED' : report.status.status === 'failing' ? 'FAILING' : 'unknown'],
              ['Self-test', report.data.selfTestStatusText],
            ]);
            const rows: (string | number)[][] = [['ID', 'ATTRIBUTE', 'FLAGS', 'VALUE', 'WORST', 'THRESH', 'TYPE', 'RAW']];
            for (const a of doc.attributes) {
              rows.push([a.id, a.name, `0x${a.flags.toString(16).padStart(4, '0')}`, a.current, a.worst, a.threshold ?? '-', a.prefailure ? 'Pre-fail' : 'Old_age', a.raw]);
            }
            return `${head}\n${table(rows, { rightAlign: [0, 3, 4, 5] })}`;
          });
        }),
      ),
    );
}
