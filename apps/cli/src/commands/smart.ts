/**
 * smart: one health summary. SATA drives through SAT (IDENTIFY, SMART attributes, health);
 * NVMe drives through their USB bridge (Identify, SMART / health log). Says which path it used.
 */
import type { Command } from 'commander';
import { hex0x, BRIDGE_CHOICES, badInput, type BridgeChoice, type HealthReport, type SmartReport } from '@usbscsi/core';
import {
  detectionJson,
  detectionLine,
  identifyFields,
  identifyJson,
  smartLogFields,
  smartLogJson,
  smartStatusJson,
} from '../format/nvme.js';
import { fields, formatBytes, table } from '../format/table.js';
import type { Wrap } from './index.js';

/** `--bridge` checked before any device is opened. */
export function parseBridgeOption(value: unknown): BridgeChoice {
  if (value === undefined) return 'auto';
  if (typeof value === 'string' && (BRIDGE_CHOICES as readonly string[]).includes(value)) return value as BridgeChoice;
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- any value a caller passed, as it prints
  throw badInput(`--bridge must be one of ${BRIDGE_CHOICES.join(', ')}; got "${String(value)}".`);
}

export function nvmeHealthJson(r: Extract<HealthReport, { path: 'nvme' }>): Record<string, unknown> {
  return {
    path: 'nvme',
    detection: detectionJson(r.detection),
    ...identifyJson(r.identify),
    ...smartStatusJson(r.smart),
    nvme_smart_health_information_log: smartLogJson(r.smart),
  };
}

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
    .description(
      'drive health: SMART through SAT for SATA drives, the NVMe health log through the USB bridge for NVMe drives',
    )
    .option(
      '--bridge <kind>',
      `path to the drive: ${BRIDGE_CHOICES.join('|')} (default auto: VID:PID table, then safe probes)`,
    )
    .action(
      wrap((ctx, _args, options) => {
        const bridge = parseBridgeOption(options['bridge']);
        return ctx.withDevice(async (device) => {
          let health: HealthReport;
          try {
            health = await device.health({ bridge });
          } catch (err) {
            if (
              (err as { code?: string }).code === 'E_CHECK_CONDITION' &&
              (err as { details?: { senseKey?: number } }).details?.senseKey === 0x05 &&
              bridge === 'sat' &&
              !ctx.json
            ) {
              ctx.io.stderr.write(
                'usbscsi: this device or bridge does not pass ATA commands through (no SAT ATA PASS-THROUGH); ' +
                  'SMART is not reachable over it.\n',
              );
            }
            throw err;
          }
          if (health.path === 'nvme') {
            const h = health;
            ctx.emit(nvmeHealthJson(h), () =>
              fields([
                ['Path', detectionLine(h.detection)],
                ...identifyFields(h.identify),
                ['Health', h.passed ? 'PASSED' : 'FAILED (critical warning set)'],
                ...smartLogFields(h.smart),
              ]),
            );
            return;
          }
          const report = health.sat;
          const detection = health.detection;
          const doc = { path: 'sat', detection: detectionJson(detection), ...smartJson(report) };
          ctx.emit(doc, () => {
            const id = report.identify;
            const head = fields([
              ['Path', detectionLine(detection)],
              ['Model', id.model],
              ['Serial', id.serial],
              ['Firmware', id.firmware],
              [
                'Capacity',
                `${id.userCapacityBytes} bytes (${formatBytes(id.userCapacityBytes)}), ` +
                  `${id.logicalSectorSize}/${id.physicalSectorSize} ` +
                  `logical/physical sector`,
              ],
              [
                'Rotation',
                id.rotationRate === undefined
                  ? undefined
                  : id.rotationRate === 'ssd'
                    ? 'solid state'
                    : `${id.rotationRate} rpm`,
              ],
              [
                'SMART',
                `${id.smartSupported ? 'supported' : 'not supported'}, ${id.smartEnabled ? 'enabled' : 'disabled'}`,
              ],
              [
                'Health',
                report.status.status === 'passed'
                  ? 'PASSED'
                  : report.status.status === 'failing'
                    ? 'FAILING'
                    : 'unknown',
              ],
              ['Self-test', report.data.selfTestStatusText],
            ]);
            const rows: (string | number)[][] = [
              ['ID', 'ATTRIBUTE', 'FLAGS', 'VALUE', 'WORST', 'THRESH', 'TYPE', 'RAW'],
            ];
            for (const a of doc.attributes) {
              rows.push([
                a.id,
                a.name,
                hex0x(a.flags, 4),
                a.current,
                a.worst,
                a.threshold ?? '-',
                a.prefailure ? 'Pre-fail' : 'Old_age',
                a.raw,
              ]);
            }
            return `${head}\n${table(rows, { rightAlign: [0, 3, 4, 5] })}`;
          });
        });
      }),
    );
}
