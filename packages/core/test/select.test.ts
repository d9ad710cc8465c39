import { describe, expect, it } from 'vitest';
import { ErrorCodes, UsbScsiError } from '../src/errors.js';
import { asMassStorage, parseSelector, selectDevice, type MassStorageDeviceInfo } from '../src/select.js';
import type { UsbDeviceInfo } from '../src/usb/backend.js';
import { BOT_DEVICE } from './scripted-handle.js';

function disk(over: Partial<UsbDeviceInfo>): MassStorageDeviceInfo {
  return asMassStorage({ ...structuredClone(BOT_DEVICE), ...over })!;
}

describe('parseSelector', () => {
  it('reads VID:PID, VID:PID:SERIAL (serials may contain colons), bus-port paths and /dev nodes', () => {
    expect(parseSelector('46f4:0001')).toEqual({ kind: 'ids', vendorId: 0x46f4, productId: 1 });
    expect(parseSelector('0x46F4:0x1:AB:CD')).toEqual({
      kind: 'ids',
      vendorId: 0x46f4,
      productId: 1,
      serialNumber: 'AB:CD',
    });
    expect(parseSelector('3-1.4.2')).toEqual({ kind: 'location', busNumber: 3, portNumbers: [1, 4, 2] });
    expect(parseSelector('/dev/sg0')).toEqual({ kind: 'path', path: '/dev/sg0' });
    expect(parseSelector('/dev/sdb')).toEqual({ kind: 'path', path: '/dev/sdb' });
    for (const node of ['/dev/sr0', '/dev/sr12', '/dev/st0', '/dev/nst3'])
      expect(parseSelector(node)).toEqual({ kind: 'path', path: node });
    expect(parseSelector(undefined)).toEqual({ kind: 'any' });
  });

  it('refuses what it cannot read, saying what to type', () => {
    for (const bad of [
      '46f4',
      'xyz:0001',
      '12345:1',
      '/dev/sda1',
      '/dev/null',
      '1-',
      'disk',
      '/dev/sr',
      '/dev/st0l',
      '/dev/nst',
      '/dev/xst0',
    ]) {
      const err = (() => {
        try {
          parseSelector(bad);
        } catch (e) {
          return e;
        }
      })() as UsbScsiError;
      expect(err, bad).toBeInstanceOf(UsbScsiError);
      expect(err.code).toBe(ErrorCodes.BAD_INPUT);
      expect(err.message).toMatch(/VID:PID|whole-disk/);
    }
  });

  it('refuses an empty selector instead of taking it as "any device"', () => {
    for (const empty of ['', '  ']) {
      const err = (() => {
        try {
          parseSelector(empty);
        } catch (e) {
          return e;
        }
      })() as UsbScsiError;
      expect(err, JSON.stringify(empty)).toBeInstanceOf(UsbScsiError);
      expect(err.code).toBe(ErrorCodes.BAD_INPUT);
      expect(err.message).toContain('empty');
    }
  });
});

describe('selectDevice', () => {
  const a = disk({ id: 'a', serialNumber: 'AAA', busNumber: 1, portNumbers: [2] });
  const b = disk({ id: 'b', serialNumber: 'BBB', busNumber: 1, portNumbers: [3] });

  it('never guesses between two devices sharing a VID:PID: E_AMBIGUOUS lists both', () => {
    const err = (() => {
      try {
        selectDevice([a, b], parseSelector('1234:5678'));
      } catch (e) {
        return e;
      }
    })() as UsbScsiError;
    expect(err.code).toBe(ErrorCodes.AMBIGUOUS);
    expect(err.details.candidates).toEqual([
      expect.stringContaining('AAA at 1-2'),
      expect.stringContaining('BBB at 1-3'),
    ]);
  });

  it('picks by serial or by bus-port path', () => {
    expect(selectDevice([a, b], parseSelector('1234:5678:BBB')).id).toBe('b');
    expect(selectDevice([a, b], parseSelector('1-2')).id).toBe('a');
  });

  it('says what is visible when nothing matches', () => {
    const err = (() => {
      try {
        selectDevice([a], parseSelector('46f4:0001'));
      } catch (e) {
        return e;
      }
    })() as UsbScsiError;
    expect(err.code).toBe(ErrorCodes.NOT_FOUND);
    expect(err.message).toMatch(/visible: 1234:5678:AAA/);
  });

  it('matches /dev nodes through the storage bindings', () => {
    const c = disk({
      id: 'c',
      storage: [
        { interfaceNumber: 0, driver: 'usb-storage', blockDevices: ['/dev/sdc'], sgDevices: ['/dev/sg2'], mounts: [] },
      ],
    });
    expect(selectDevice([a, c], parseSelector('/dev/sg2')).id).toBe('c');
    expect(selectDevice([a, c], parseSelector('/dev/sdc')).id).toBe('c');
  });

  it('lists a device as mass storage only when it has a class 08 interface', () => {
    const hid = structuredClone(BOT_DEVICE);
    hid.configurations[0]!.interfaces[0]!.interfaceClass = 3;
    expect(asMassStorage(hid)).toBeNull();
    expect(asMassStorage(BOT_DEVICE)?.interfaces).toEqual([{ interfaceNumber: 0, protocols: ['bot'] }]);
  });
});
