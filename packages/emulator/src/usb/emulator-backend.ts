import { UsbScsiError } from '@usbscsi/core/errors';
import type { HotplugEvent, UsbBackend, UsbDeviceHandle, UsbDeviceInfo } from '@usbscsi/core/usb';
import { EmulatorDeviceHandle } from './emulator-handle.js';
import { SimulatedDevice, type SimulatedDeviceOptions } from './simulated-device.js';

export interface EmulatorBackendOptions {
  /** Devices plugged in from the start (devices or options to build them). */
  devices?: (SimulatedDevice | SimulatedDeviceOptions)[];
}

/** An in-process {@link UsbBackend} over simulated devices. It has no `botExchange`: it exercises the generic path. */
export class EmulatorBackend implements UsbBackend {
  readonly name = 'emulator';
  private readonly attached: SimulatedDevice[] = [];
  private readonly handles = new Set<UsbDeviceHandle>();
  private readonly watchers = new Set<(event: HotplugEvent) => void>();
  private readonly unsubscribe = new Map<SimulatedDevice, () => void>();

  constructor(options: EmulatorBackendOptions = {}) {
    for (const d of options.devices ?? []) this.addDevice(d);
  }

  /** Every simulated device the backend holds, plugged in or not. */
  get devices(): readonly SimulatedDevice[] {
    return this.attached;
  }

  /** Plugs a device in (emits `arrived`). */
  addDevice(device: SimulatedDevice | SimulatedDeviceOptions = {}): SimulatedDevice {
    const d = device instanceof SimulatedDevice ? device : new SimulatedDevice(device);
    this.attached.push(d);
    let before = d.info();
    this.unsubscribe.set(
      d,
      d.onPlug((plugged) => {
        const now = d.info();
        this.emit({ type: plugged ? 'arrived' : 'left', device: plugged ? now : before });
        before = now;
      }),
    );
    if (d.connected) this.emit({ type: 'arrived', device: before });
    return d;
  }

  /** Unplugs and forgets a device. */
  removeDevice(device: SimulatedDevice): void {
    device.unplug();
    this.unsubscribe.get(device)?.();
    this.unsubscribe.delete(device);
    const i = this.attached.indexOf(device);
    if (i >= 0) this.attached.splice(i, 1);
  }

  async list(): Promise<UsbDeviceInfo[]> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    return this.attached.filter((d) => d.connected).map((d) => d.info());
  }

  async open(device: UsbDeviceInfo): Promise<UsbDeviceHandle> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    const d = this.attached.find((x) => x.connected && x.id === device.id);
    if (!d)
      throw new UsbScsiError(
        'E_DEVICE_GONE',
        `simulated device ${device.id} is not plugged in (any more); list devices again`,
      );
    const handle = new EmulatorDeviceHandle(d, d.info());
    this.handles.add(handle);
    return handle;
  }

  watch(listener: (event: HotplugEvent) => void): () => void {
    this.watchers.add(listener);
    return () => this.watchers.delete(listener);
  }

  /** Closes every handle it opened and every backing store. */
  async dispose(): Promise<void> {
    await Promise.all([...this.handles].map((h) => h.close()));
    this.handles.clear();
    await Promise.all(this.attached.map((d) => d.target.close()));
  }

  private emit(event: HotplugEvent): void {
    for (const w of [...this.watchers]) w(event);
  }
}
