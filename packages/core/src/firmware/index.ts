/** Firmware download: SCSI WRITE BUFFER and ATA DOWNLOAD MICROCODE behind one target interface. */
export * from './types.js';
export { DEFAULT_CHUNK_BYTES, checkFirmwareOptions, chooseMode, chunkImage, parseFirmwareMode } from './plan.js';
export {
  DEFAULT_ACTIVATION_TIMEOUT_MS,
  DEFAULT_FIRMWARE_TIMEOUT_MS,
  downloadFirmware,
  resolveFirmwareTarget,
  type FirmwareInfoOptions,
} from './download.js';
export { WriteBufferTarget, parseOneCommandSupport, reportSupportedOperationCodeCdb } from './scsi-target.js';
export { ATA_SUBCOMMAND, DownloadMicrocodeTarget, ataFailure, downloadMicrocodeCdb } from './ata-target.js';
export { waitForDevice, type CameBack } from './activation.js';
export { stateWhenStopped, type DeviceFirmwareState } from './errors.js';
