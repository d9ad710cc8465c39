import { describe, expect, it } from 'vitest';
import type { StorageBinding, UsbDeviceInfo } from '../usb/backend.js';
import { attachStorageBindings, storageBindingsReader } from './index.js';

const device = (interfaceClass: number): UsbDeviceInfo => ({
  backend: 'test',
  id: '1-2',
  vendorId: 0x46f4,
  productId: 1,
  busNumber: 1,
  deviceAddress: 5,
  portNumbers: [2],
  speed: 'high',
  configurations: [
    {
      configurationValue: 1,
      interfaces: [
        {
          interfaceNumber: 0,
          alternateSetting: 0,
          interfaceClass,
          interfaceSubClass: 6,
          interfaceProtocol: 0x50,
          endpoints: [],
        },
      ],
    },
  ],
});
const binding: StorageBinding = {
  interfaceNumber: 0,
  driver: 'usb-storage',
  blockDevices: ['/dev/sda'],
  sgDevices: ['/dev/sg0'],
  mounts: [],
};

describe('storage bindings in a listing', () => {
  it('a reader exists for Linux and macOS only', () => {
    expect(storageBindingsReader('linux')).toBeTypeOf('function');
    expect(storageBindingsReader('darwin')).toBeTypeOf('function');
    expect(storageBindingsReader('win32')).toBeNull();
  });

  it('are read for mass-storage devices only, at their bus-port path', async () => {
    const asked: string[] = [];
    const read = (bus: number, ports: number[]) => (asked.push(`${bus}-${ports.join('.')}`), [binding]);
    expect((await attachStorageBindings(device(0x08), read)).storage).toEqual([binding]);
    expect((await attachStorageBindings(device(0x03), read)).storage).toBeUndefined();
    expect(asked).toEqual(['1-2']);
  });

  it('stay unknown when the reader fails (an unplug racing the walk, no addon on macOS)', async () => {
    const info = await attachStorageBindings(device(0x08), () => Promise.reject(new Error('gone')));
    expect(info.storage).toBeUndefined();
  });
});
