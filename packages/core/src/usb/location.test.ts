import { describe, expect, it } from 'vitest';
import { locationOf, parseLocation, sameLocation, sysfsDeviceName } from './location.js';

describe('bus-port location', () => {
  it('is written as Linux writes it, a root hub as N-0', () => {
    expect(locationOf({ busNumber: 1, portNumbers: [2, 3] })).toBe('1-2.3');
    expect(locationOf({ busNumber: 3, portNumbers: [1] })).toBe('3-1');
    expect(locationOf({ busNumber: 2, portNumbers: [] })).toBe('2-0');
  });

  it('parses back to the same place, and refuses what is not a bus-port path', () => {
    for (const place of [
      { busNumber: 1, portNumbers: [2, 3] },
      { busNumber: 3, portNumbers: [1, 4, 2] },
      { busNumber: 2, portNumbers: [] },
    ]) {
      expect(parseLocation(locationOf(place))).toEqual(place);
    }
    for (const text of [
      '',
      '1',
      '1-',
      '-2',
      '1-2.',
      '1-2..3',
      'usb1',
      '1-2:1.0',
      ' 1-2',
      '1-2.3.4.5.6.7.8.9',
      '1234-1',
    ]) {
      expect(parseLocation(text)).toBeUndefined();
    }
  });

  it('compares places by location, not by array identity', () => {
    expect(sameLocation({ busNumber: 1, portNumbers: [2, 3] }, { busNumber: 1, portNumbers: [2, 3] })).toBe(true);
    expect(sameLocation({ busNumber: 1, portNumbers: [2, 3] }, { busNumber: 1, portNumbers: [23] })).toBe(false);
    expect(sameLocation({ busNumber: 1, portNumbers: [2] }, { busNumber: 2, portNumbers: [2] })).toBe(false);
  });

  it('names the sysfs directory, where only a root hub is named otherwise (usbN)', () => {
    expect(sysfsDeviceName({ busNumber: 1, portNumbers: [2, 3] })).toBe('1-2.3');
    expect(sysfsDeviceName({ busNumber: 4, portNumbers: [] })).toBe('usb4');
  });
});
