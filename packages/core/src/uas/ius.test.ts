import { describe, expect, it } from 'vitest';
import {
  ResponseCode,
  TaskManagementFunction,
  decodeStatusIu,
  encodeCommandIu,
  encodeTaskManagementIu,
  responseCodeName,
} from './ius.js';

const senseIu = (tag: number, status: number, sense: number[], declared = sense.length) =>
  Uint8Array.from([
    0x03,
    0,
    tag >> 8,
    tag & 0xff,
    0,
    0,
    status,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    declared >> 8,
    declared & 0xff,
    ...sense,
  ]);

describe('UAS information units', () => {
  it('Command IU: id 01h, tag big-endian, SIMPLE, no additional CDB length, LUN, CDB padded to 16', () => {
    const iu = encodeCommandIu({ tag: 0x0102, lun: 3, cdb: Uint8Array.of(0x12, 0, 0, 0, 36, 0) });
    expect(iu.length).toBe(32);
    expect(Array.from(iu.subarray(0, 16))).toEqual([1, 0, 1, 2, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(iu.subarray(16))).toEqual([0x12, 0, 0, 0, 36, 0, ...new Array(10).fill(0)]);
  });

  it('Command IU: a LUN of 256 or more uses the flat space (40h | high byte), as Linux int_to_scsilun', () => {
    const iu = encodeCommandIu({ tag: 1, lun: 0x123, cdb: Uint8Array.of(0) });
    expect([iu[8], iu[9]]).toEqual([0x41, 0x23]);
  });

  it('Command IU: a CDB over 16 bytes, an empty one, tag 0 and LUN 16384 are E_BAD_INPUT', () => {
    expect(() => encodeCommandIu({ tag: 1, lun: 0, cdb: new Uint8Array(17) })).toThrow(
      expect.objectContaining({ code: 'E_BAD_INPUT', message: expect.stringMatching(/additional CDB length/) }),
    );
    expect(() => encodeCommandIu({ tag: 1, lun: 0, cdb: new Uint8Array(0) })).toThrow(
      expect.objectContaining({ code: 'E_BAD_INPUT' }),
    );
    expect(() => encodeCommandIu({ tag: 0, lun: 0, cdb: new Uint8Array(6) })).toThrow(
      expect.objectContaining({ code: 'E_BAD_INPUT' }),
    );
    expect(() => encodeCommandIu({ tag: 1, lun: 0x4000, cdb: new Uint8Array(6) })).toThrow(
      expect.objectContaining({ code: 'E_BAD_INPUT' }),
    );
  });

  it('Task Management IU: ABORT TASK names the task tag; LOGICAL UNIT RESET carries the LUN', () => {
    const abort = encodeTaskManagementIu({ tag: 17, function: TaskManagementFunction.ABORT_TASK, lun: 0, taskTag: 5 });
    expect(Array.from(abort)).toEqual([5, 0, 0, 17, 1, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0]);
    const reset = encodeTaskManagementIu({ tag: 18, function: TaskManagementFunction.LOGICAL_UNIT_RESET, lun: 2 });
    expect(Array.from(reset)).toEqual([5, 0, 0, 18, 8, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0]);
    expect(() => encodeTaskManagementIu({ tag: 18, function: TaskManagementFunction.ABORT_TASK, lun: 0 })).toThrow(
      expect.objectContaining({ code: 'E_BAD_INPUT' }),
    );
  });

  it('Sense IU: tag, status and exactly the announced sense bytes', () => {
    const iu = decodeStatusIu(senseIu(9, 2, [0x70, 0, 5, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0, 0, 0, 0, 0]));
    expect(iu).toMatchObject({ id: 'sense', tag: 9, status: 2 });
    expect(iu.id === 'sense' && iu.sense.length).toBe(18);
  });

  it('Response, Read Ready and Write Ready IUs decode; response codes have names', () => {
    expect(decodeStatusIu(Uint8Array.of(4, 0, 0, 7, 0, 0, 1, ResponseCode.OVERLAPPED_TAG))).toEqual({
      id: 'response',
      tag: 7,
      responseCode: 0x0a,
      additionalInfo: 1,
    });
    expect(decodeStatusIu(Uint8Array.of(6, 0, 0, 3))).toEqual({ id: 'read-ready', tag: 3 });
    expect(decodeStatusIu(Uint8Array.of(7, 0, 1, 0))).toEqual({ id: 'write-ready', tag: 256 });
    expect(responseCodeName(0x0a)).toBe('overlapped tag attempted');
    expect(responseCodeName(0x33)).toBe('reserved response code 0x33');
  });

  it('untrusted bytes: short IUs, an unknown id and a sense length past the end are E_PHASE_ERROR', () => {
    const phase = expect.objectContaining({ code: 'E_PHASE_ERROR' });
    expect(() => decodeStatusIu(Uint8Array.of(6, 0, 0))).toThrow(phase);
    expect(() => decodeStatusIu(Uint8Array.of(4, 0, 0, 1, 0))).toThrow(phase);
    expect(() => decodeStatusIu(senseIu(1, 0, []).subarray(0, 12))).toThrow(phase);
    expect(() => decodeStatusIu(senseIu(1, 2, [0x70, 0, 5], 200))).toThrow(phase);
    expect(() => decodeStatusIu(Uint8Array.of(0x01, 0, 0, 1, ...new Array(28).fill(0)))).toThrow(phase);
    expect(() => decodeStatusIu(Uint8Array.of(0x55, 0x53, 0x42, 0x53, 0, 0, 0, 0, 0, 0, 0, 0, 0))).toThrow(phase);
  });
});
