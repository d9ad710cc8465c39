export { PcapngWriter, LINKTYPE_USB_LINUX_MMAPPED, type PcapngSink, type PcapngWriterOptions } from './pcapng.js';
export { USBMON_HEADER_LENGTH, UrbStatus, UsbmonXfer, encodeUsbmon, type UsbmonRecord } from './usbmon.js';
export { buildConfigurationDescriptor, buildDeviceDescriptor } from './descriptors.js';
export {
  UsbTraceRecorder,
  openTraceFile,
  memoryTrace,
  type TraceFile,
  type UsbTraceRecorderOptions,
} from './recorder.js';
export { TracingBackend, traceHandle } from './tracing-backend.js';
