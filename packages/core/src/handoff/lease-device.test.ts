import { describe, expect, it } from 'vitest';
import type { UsbDeviceInfo } from '../usb/backend.js';
import { parseLocation } from '../usb/location.js';
import { describeLeaseDevice, leaseDeviceOf, sameLeaseDevice } from './lease.js';

const listed = {
  vendorId: 0x46f4,
  productId: 0x0001,
  serialNumber: 'S1',
  busNumber: 1,
  portNumbers: [2, 3],
  configurations: [{ configurationValue: 2, interfaces: [] }],
} as unknown as UsbDeviceInfo;

describe('leaseDeviceOf', () => {
  it('takes identity, place and the active configuration of a listed device, copying the ports', () => {
    const device = leaseDeviceOf(listed, 0);
    expect(device).toEqual({
      vendorId: 0x46f4,
      productId: 1,
      serialNumber: 'S1',
      busNumber: 1,
      portNumbers: [2, 3],
      configurationValue: 2,
      interfaceNumber: 0,
    });
    expect(device.portNumbers).not.toBe(listed.portNumbers);
    expect(describeLeaseDevice(device)).toBe('46f4:0001 (serial S1) at 1-2.3 interface 0');
  });

  it(
    "makes the same lease device from a daemon's summary (location parsed back, no configurations: " +
      'configuration 1)',
    () => {
      const summary = { id: '1-2.3', backend: 'sim', vendorId: 0x46f4, productId: 1, location: '1-2.3' };
      const device = leaseDeviceOf({ ...summary, ...parseLocation(summary.location)! }, 0);
      expect(device).toEqual({
        vendorId: 0x46f4,
        productId: 1,
        busNumber: 1,
        portNumbers: [2, 3],
        configurationValue: 1,
        interfaceNumber: 0,
      });
      expect(sameLeaseDevice(device, leaseDeviceOf(listed, 0))).toBe(true);
      expect(sameLeaseDevice(device, leaseDeviceOf(listed, 1))).toBe(false);
      expect(sameLeaseDevice(device, { ...device, portNumbers: [23] })).toBe(false);
    },
  );
});
