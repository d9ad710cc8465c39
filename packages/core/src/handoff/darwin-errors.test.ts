import { describe, expect, it } from 'vitest';
import { UsbScsiError } from '../errors.js';
import { darwinError } from './darwin-errors.js';

const context = { device: '05e3:0749 at 20-3.2 interface 0' };

describe('darwinError', () => {
  it('a DiskArbitration permission refusal is E_PERMISSION naming sudo and the entitlement', () => {
    const err = darwinError(
      Object.assign(new Error('unmount: DiskArbitration refused: kDAReturnNotPermitted'), {
        code: 'E_PERMISSION',
        operation: 'unmount',
        bsdName: 'disk4',
        osStatus: 0xf8da0008,
        osStatusName: 'kDAReturnNotPermitted',
      }),
      context,
    );
    expect(err.code).toBe('E_PERMISSION');
    expect(err.message).toMatch(/DiskArbitration refused to unmount disk4 .*kDAReturnNotPermitted, 0xf8da0008/);
    expect(err.message).toContain('sudo');
    expect(err.message).toContain('com.apple.vm.device-access');
    expect(err.details).toMatchObject({
      operation: 'unmount',
      osStatusName: 'kDAReturnNotPermitted',
      bsdName: 'disk4',
    });
  });

  it('an exclusive-access capture failure is E_BUSY with the IOReturn name', () => {
    const err = darwinError(
      Object.assign(new Error('capture: USBDeviceReEnumerate failed: kIOReturnExclusiveAccess'), {
        code: 'E_BUSY',
        operation: 'release',
        osStatus: 0xe00002c5,
        osStatusName: 'kIOReturnExclusiveAccess',
      }),
      context,
    );
    expect(err.code).toBe('E_BUSY');
    expect(err.message).toContain('kIOReturnExclusiveAccess');
  });

  it('an unknown code or a non-error rejection becomes E_IO, never a crash', () => {
    expect(darwinError(Object.assign(new Error('odd'), { code: 'E_WHATEVER' }), context).code).toBe('E_IO');
    expect(darwinError('a string', context).code).toBe('E_IO');
    expect(darwinError(null, context).code).toBe('E_IO');
  });

  it('a typed error passes through unchanged', () => {
    const typed = new UsbScsiError('E_TIMEOUT', 'already typed');
    expect(darwinError(typed, context)).toBe(typed);
  });
});
