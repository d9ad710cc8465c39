import {
  listMassStorageDevices,
  locationOf,
  USB_CLASS_MASS_STORAGE,
  openDevice,
  resolveBackend,
  type BackendChoice,
  type LeaseJournal,
  type TransportChoice,
  type UsbBackend,
  type UsbDeviceInfo,
} from '@usbscsi/core';
import type { DeviceProvider, DeviceSummary, OpenedDevice } from './provider.js';

export interface CoreProviderOptions {
  backend: BackendChoice;
  transport?: TransportChoice;
  /** Handoff: unmount what is mounted instead of refusing with E_MOUNTED (and re-mount on release). */
  unmount?: boolean;
  /** Journal of the handoff leases core takes when the OS holds a device (default: core's default path). */
  journal?: LeaseJournal;
}

function summarize(device: UsbDeviceInfo & { location: string }): DeviceSummary {
  return {
    id: device.location,
    backend: device.backend,
    vendorId: device.vendorId,
    productId: device.productId,
    ...(device.manufacturer ? { manufacturer: device.manufacturer } : {}),
    ...(device.product ? { product: device.product } : {}),
    ...(device.serialNumber ? { serialNumber: device.serialNumber } : {}),
    location: device.location,
  };
}

/**
 * Devices from one of core's backends (native / node-usb / a simulated one),
 * named by bus-port path. Opening goes through core's `openDevice`, so the
 * handoff lease (unmount, detach, journal) is core's, not the daemon's.
 */
export async function createCoreProvider(options: CoreProviderOptions): Promise<DeviceProvider> {
  const backend: UsbBackend = await resolveBackend(options.backend);
  return {
    name: backend.name,
    async list() {
      return (await listMassStorageDevices(backend)).map((d) => ({
        ...summarize(d),
        attachment: `${d.busNumber}:${d.deviceAddress}`,
      }));
    },
    async open(id: string): Promise<OpenedDevice> {
      return openDevice({
        selector: id,
        backend,
        transport: options.transport ?? 'auto',
        // The daemon gives devices back itself on SIGTERM (drain first), so core's
        // process-wide signal handlers stay out of it: registry null.
        lease: {
          unmount: options.unmount ?? false,
          remount: options.unmount ?? false,
          registry: null,
          ...(options.journal ? { journal: options.journal } : {}),
        },
      });
    },
    ...(backend.watch
      ? {
          watch: (listener) =>
            backend.watch!((event) => {
              const massStorage = event.device.configurations[0]?.interfaces.some(
                (i) => i.interfaceClass === USB_CLASS_MASS_STORAGE,
              );
              if (event.type === 'arrived' && !massStorage) return;
              const location = locationOf(event.device);
              listener({ type: event.type, device: summarize({ ...event.device, location }) });
            }),
        }
      : {}),
    async dispose() {
      await backend.dispose?.();
    },
  };
}
