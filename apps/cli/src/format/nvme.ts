/**
 * NVMe results as `smartctl -j` names them (smartmontools src/nvmeprint.cpp), and as text.
 * Counters are numbers while exact, decimal strings past 2^53.
 */
import {
  hex0x,
  usbIdsOf,
  criticalWarningText,
  type BridgeDetection,
  type NvmeErrorEntry,
  type NvmeFirmwareSlots,
  type NvmeIdentifyController,
  type NvmeSelfTestLog,
  type NvmeSmartLog,
} from '@usbscsi/core';
import { fields, formatBytes } from './table.js';

const n = (v: bigint): number | string => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString());
const celsius = (k: number): number | null => (k ? k - 273 : null);

export function detectionJson(d: BridgeDetection): Record<string, unknown> {
  return {
    path: d.path,
    via: d.via,
    bridge: d.kind ?? null,
    protocol: d.protocol ?? (d.path === 'sat' ? 'SAT ATA PASS-THROUGH(16)' : null),
    table_entry: d.entry ? { vid_pid: usbIdsOf(d.entry), name: d.entry.name, source: d.entry.source } : null,
    steps: d.steps,
  };
}

export function detectionLine(d: BridgeDetection): string {
  const how =
    d.via === 'forced'
      ? 'chosen with --bridge'
      : d.via === 'table'
        ? `VID:PID table, ${d.entry?.name}`
        : 'found by probing';
  return d.path === 'sat' ? `SAT (ATA PASS-THROUGH), ${how}` : `NVMe through ${d.protocol} (${how})`;
}

export function identifyJson(id: NvmeIdentifyController): Record<string, unknown> {
  return {
    model_name: id.model,
    serial_number: id.serial,
    firmware_version: id.firmware,
    nvme_pci_vendor: { id: id.pciVendorId, subsystem_id: id.pciSubsystemVendorId },
    nvme_ieee_oui_identifier: id.ieeeOui,
    nvme_total_capacity: n(id.totalCapacity),
    nvme_unallocated_capacity: n(id.unallocatedCapacity),
    nvme_controller_id: id.controllerId,
    nvme_version: { string: id.versionString, value: id.version },
    nvme_number_of_namespaces: id.namespaces,
    nvme_optional_admin_commands: {
      value: id.oacs,
      self_test: id.supportsSelfTest,
      firmware_download: id.supportsFirmwareDownload,
      format: id.supportsFormat,
    },
  };
}

export function identifyFields(id: NvmeIdentifyController): [string, string | undefined][] {
  return [
    ['Model Number', id.model],
    ['Serial Number', id.serial],
    ['Firmware Version', id.firmware],
    ['PCI Vendor/Subsystem ID', `${hex0x(id.pciVendorId, 4)} / ${hex0x(id.pciSubsystemVendorId, 4)}`],
    ['IEEE OUI Identifier', hex0x(id.ieeeOui, 6)],
    [
      'Total NVM Capacity',
      id.totalCapacity ? `${id.totalCapacity} bytes (${formatBytes(id.totalCapacity)})` : undefined,
    ],
    ['Controller ID', String(id.controllerId)],
    ['NVMe Version', id.versionString],
    ['Number of Namespaces', String(id.namespaces)],
  ];
}

export function smartLogJson(s: NvmeSmartLog): Record<string, unknown> {
  return {
    critical_warning: s.criticalWarning,
    temperature: celsius(s.temperatureKelvin),
    available_spare: s.availableSpare,
    available_spare_threshold: s.availableSpareThreshold,
    percentage_used: s.percentageUsed,
    data_units_read: n(s.dataUnitsRead),
    data_units_written: n(s.dataUnitsWritten),
    host_reads: n(s.hostReads),
    host_writes: n(s.hostWrites),
    controller_busy_time: n(s.controllerBusyTime),
    power_cycles: n(s.powerCycles),
    power_on_hours: n(s.powerOnHours),
    unsafe_shutdowns: n(s.unsafeShutdowns),
    media_errors: n(s.mediaErrors),
    num_err_log_entries: n(s.errorLogEntries),
    warning_temp_time: s.warningTempTime,
    critical_comp_time: s.criticalTempTime,
    temperature_sensors: s.temperatureSensorsKelvin.map((k) => k - 273),
  };
}

/** smartctl's top-level summary keys beside the log. */
export function smartStatusJson(s: NvmeSmartLog): Record<string, unknown> {
  return {
    smart_status: { passed: s.criticalWarning === 0, nvme: { value: s.criticalWarning } },
    temperature: { current: celsius(s.temperatureKelvin) },
    power_on_time: { hours: n(s.powerOnHours) },
    power_cycle_count: n(s.powerCycles),
  };
}

export function smartLogFields(s: NvmeSmartLog): [string, string | undefined][] {
  const units = (v: bigint) => `${v} [${formatBytes(v * 512000n)}]`;
  const warnings = criticalWarningText(s.criticalWarning);
  return [
    ['Critical Warning', `${hex0x(s.criticalWarning)}${warnings.length ? ` (${warnings.join(', ')})` : ''}`],
    ['Temperature', s.temperatureKelvin ? `${s.temperatureKelvin - 273} Celsius` : undefined],
    ['Available Spare', `${s.availableSpare}%`],
    ['Available Spare Threshold', `${s.availableSpareThreshold}%`],
    ['Percentage Used', `${s.percentageUsed}%`],
    ['Data Units Read', units(s.dataUnitsRead)],
    ['Data Units Written', units(s.dataUnitsWritten)],
    ['Host Read Commands', String(s.hostReads)],
    ['Host Write Commands', String(s.hostWrites)],
    ['Controller Busy Time', String(s.controllerBusyTime)],
    ['Power Cycles', String(s.powerCycles)],
    ['Power On Hours', String(s.powerOnHours)],
    ['Unsafe Shutdowns', String(s.unsafeShutdowns)],
    ['Media and Data Integrity Errors', String(s.mediaErrors)],
    ['Error Information Log Entries', String(s.errorLogEntries)],
    ['Warning Comp. Temperature Time', String(s.warningTempTime)],
    ['Critical Comp. Temperature Time', String(s.criticalTempTime)],
  ];
}

export function errorLogJson(entries: NvmeErrorEntry[], read: number): Record<string, unknown> {
  return {
    read,
    table: entries.map((e) => ({
      error_count: n(e.errorCount),
      submission_queue_id: e.submissionQueueId,
      command_id: e.commandId,
      status_field: {
        value: e.status,
        do_not_retry: (e.status & 0x4000) !== 0,
        status_code_type: (e.status >> 8) & 0x7,
        status_code: e.status & 0xff,
        string: e.statusText,
      },
      phase_tag: e.phaseTag,
      parm_error_location: e.parameterErrorLocation,
      lba: { value: n(e.lba) },
      nsid: e.nsid,
    })),
  };
}

export function selfTestLogJson(log: NvmeSelfTestLog): Record<string, unknown> {
  return {
    current_self_test_operation: { value: log.currentOperation, string: log.currentOperationText },
    // Every documented key is present; null where the log says the value is not valid.
    current_self_test_completion_percent: log.currentOperation ? log.currentCompletionPercent : null,
    table: log.results.map((r) => ({
      self_test_code: { value: r.code, string: r.codeText },
      self_test_result: { value: r.result, string: r.resultText },
      power_on_hours: n(r.powerOnHours),
      segment: r.result === 0x7 ? r.segment : null,
      nsid: r.nsid === undefined ? null : r.nsid === 0xffffffff ? -1 : r.nsid,
      lba: r.lba === undefined ? null : n(r.lba),
      status_code_type: r.statusCodeType ?? null,
      status_code: r.statusCode ?? null,
    })),
  };
}

export function firmwareSlotsJson(f: NvmeFirmwareSlots): Record<string, unknown> {
  return {
    active_slot: f.activeSlot,
    next_reset_slot: f.nextResetSlot,
    slots: f.slots.map((rev, i) => ({ slot: i + 1, revision: rev || null })),
  };
}

export function text(pairs: [string, string | undefined][]): string {
  return fields(pairs);
}
