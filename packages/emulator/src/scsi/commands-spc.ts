import { asciiField, be16, be24, be32, concat, cut, put16, put24, put32, put64 } from './bytes.js';
import { CheckCondition } from './check-condition.js';
import type { TargetEnv } from './env.js';
import type { LogicalUnit } from './lun.js';
import { Sense, encodeSense } from './sense.js';
import type { BuiltinCommand } from './types.js';

/** SPC commands: identity, sense, LUN inventory, mode pages, diagnostics, buffers. */
export function spcCommands(env: TargetEnv): Map<number, BuiltinCommand> {
  const commands = new Map<number, BuiltinCommand>();

  commands.set(0x00, { name: 'TEST UNIT READY', media: true, run: () => undefined });

  commands.set(0x12, {
    name: 'INQUIRY',
    plan: () => ({ direction: 'in' }),
    run: ({ cdb, unit }) => {
      const evpd = ((cdb[1] ?? 0) & 0x01) !== 0;
      const page = cdb[2] ?? 0;
      const alloc = be16(cdb, 3);
      if (!evpd) {
        if (page !== 0) throw new CheckCondition(Sense.invalidFieldInCdb());
        return cut(standardInquiry(env, unit), alloc);
      }
      return cut(vpdPage(env, unit, page), alloc);
    },
  });

  commands.set(0x03, {
    name: 'REQUEST SENSE',
    plan: () => ({ direction: 'in' }),
    run: ({ cdb, unit }) => {
      const descriptor = ((cdb[1] ?? 0) & 0x01) !== 0;
      // The sense of the command that just failed comes first (it may be what raised a unit
      // attention, as activating new microcode does); a unit attention is reported after it.
      const held = unit.pendingSense ?? unit.unitAttention ?? { key: 0, asc: 0, ascq: 0 };
      if (unit.pendingSense) unit.pendingSense = null;
      else unit.unitAttention = null;
      return cut(encodeSense(held, descriptor), cdb[4] ?? 0);
    },
  });

  commands.set(0xa0, {
    name: 'REPORT LUNS',
    plan: () => ({ direction: 'in' }),
    run: ({ cdb }) => {
      const select = cdb[2] ?? 0;
      const alloc = be32(cdb, 6);
      if (select > 2 || alloc < 16) throw new CheckCondition(Sense.invalidFieldInCdb());
      const out = new Uint8Array(8 + 8 * env.units.length);
      put32(out, 0, 8 * env.units.length);
      env.units.forEach((u, i) => {
        out[8 + i * 8 + 1] = u.index; // single-level, peripheral device addressing
      });
      return cut(out, alloc);
    },
  });

  const modeSense = (ten: boolean): BuiltinCommand => ({
    name: ten ? 'MODE SENSE(10)' : 'MODE SENSE(6)',
    plan: () => ({ direction: 'in' }),
    run: ({ cdb, unit }) => {
      const dbd = ((cdb[1] ?? 0) & 0x08) !== 0;
      const llbaa = ten && ((cdb[1] ?? 0) & 0x10) !== 0;
      const pc = (cdb[2] ?? 0) >> 6;
      const page = (cdb[2] ?? 0) & 0x3f;
      const subpage = cdb[3] ?? 0;
      const alloc = ten ? be16(cdb, 7) : (cdb[4] ?? 0);
      if (pc === 3) throw new CheckCondition(Sense.savingParametersNotSupported());
      if (subpage !== 0 && !(page === 0x3f && subpage === 0xff)) throw new CheckCondition(Sense.invalidFieldInCdb());
      const pages = modePages(unit, pc, page);
      const block = dbd ? new Uint8Array(0) : blockDescriptor(unit, llbaa);
      const wp = unit.readOnly ? 0x80 : 0x00;
      let header: Uint8Array;
      if (ten) {
        header = new Uint8Array(8);
        put16(header, 0, 6 + block.length + pages.length);
        header[3] = wp;
        header[4] = block.length === 16 ? 0x01 : 0x00; // LONGLBA
        put16(header, 6, block.length);
      } else {
        header = new Uint8Array(4);
        header[0] = 3 + block.length + pages.length;
        header[2] = wp;
        header[3] = block.length;
      }
      return cut(concat([header, block, pages]), alloc);
    },
  });
  commands.set(0x1a, modeSense(false));
  commands.set(0x5a, modeSense(true));

  // SEND DIAGNOSTIC remembers which page RECEIVE DIAGNOSTIC RESULTS returns (PCV=0).
  const requestedDiagPage = new Map<number, number>();
  commands.set(0x1d, {
    name: 'SEND DIAGNOSTIC',
    plan: (cdb) => {
      const length = be16(cdb, 3);
      return length ? { direction: 'out', length } : { direction: 'none' };
    },
    run: ({ cdb, unit, dataOut }) => {
      const selfTest = ((cdb[1] ?? 0) & 0x04) !== 0;
      const pf = ((cdb[1] ?? 0) & 0x10) !== 0;
      const selfTestCode = (cdb[1] ?? 0) >> 5;
      const length = be16(cdb, 3);
      if (selfTest && (selfTestCode !== 0 || length !== 0)) throw new CheckCondition(Sense.invalidFieldInCdb());
      if (length === 0) return undefined; // default self-test or a background self-test code: passes at once
      if (!pf) throw new CheckCondition(Sense.invalidFieldInCdb());
      const page = dataOut[0] ?? 0;
      if (page !== 0x00 || dataOut.length < 4) throw new CheckCondition(Sense.invalidFieldInParameterList());
      requestedDiagPage.set(unit.index, page);
      return undefined;
    },
  });

  commands.set(0x1c, {
    name: 'RECEIVE DIAGNOSTIC RESULTS',
    plan: () => ({ direction: 'in' }),
    run: ({ cdb, unit }) => {
      const pcv = ((cdb[1] ?? 0) & 0x01) !== 0;
      const page = pcv ? (cdb[2] ?? 0) : (requestedDiagPage.get(unit.index) ?? 0);
      if (page !== 0x00) throw new CheckCondition(Sense.invalidFieldInCdb());
      // Supported diagnostic pages: only page 0 itself.
      return cut(Uint8Array.of(0x00, 0x00, 0x00, 0x01, 0x00), be16(cdb, 3));
    },
  });

  commands.set(0x3c, {
    name: 'READ BUFFER',
    plan: () => ({ direction: 'in' }),
    run: ({ cdb, unit }) => {
      const mode = (cdb[1] ?? 0) & 0x1f;
      const id = cdb[2] ?? 0;
      const offset = be24(cdb, 3);
      const alloc = be24(cdb, 6);
      const buffer = unit.buffers.get(id) ?? new Uint8Array(0);
      if (mode === 0x03) {
        const d = new Uint8Array(4);
        const model = env.firmwareModel();
        // SPC-5 §6.20.5: OFFSET BOUNDARY is a power of two (0: byte granularity), then the capacity.
        d[0] = model ? model.offsetBoundary : 0;
        put24(d, 1, model ? model.capacity : env.bufferCapacity);
        return cut(d, alloc);
      }
      if (mode === 0x00) {
        const header = new Uint8Array(4);
        put24(header, 1, env.bufferCapacity);
        return cut(concat([header, padTo(buffer, env.bufferCapacity)]), alloc);
      }
      if (mode !== 0x02) throw new CheckCondition(Sense.invalidFieldInCdb());
      if (offset > env.bufferCapacity) throw new CheckCondition(Sense.invalidFieldInCdb());
      return cut(padTo(buffer, env.bufferCapacity).subarray(offset), alloc);
    },
  });

  const images = new Map<number, Uint8Array>();
  commands.set(0x3b, {
    name: 'WRITE BUFFER',
    plan: (cdb) => {
      const length = be24(cdb, 6);
      return length ? { direction: 'out', length } : { direction: 'none' };
    },
    run: async ({ cdb, unit, dataOut }) => {
      const mode = (cdb[1] ?? 0) & 0x1f;
      const id = cdb[2] ?? 0;
      const offset = be24(cdb, 3);
      if (mode === 0x02) {
        if (offset + dataOut.length > env.bufferCapacity) throw new CheckCondition(Sense.invalidFieldInCdb());
        const buffer = padTo(unit.buffers.get(id) ?? new Uint8Array(0), offset + dataOut.length).slice();
        buffer.set(dataOut, offset);
        unit.buffers.set(id, buffer);
        return undefined;
      }
      if (![0x04, 0x05, 0x06, 0x07, 0x0d, 0x0e, 0x0f].includes(mode))
        throw new CheckCondition(Sense.invalidFieldInCdb());
      const hook = env.firmwareHook();
      const model = env.firmwareModel();
      if (!hook && model) {
        model.writeBuffer(mode, (cdb[1] ?? 0) >> 5, offset, dataOut);
        return undefined;
      }
      if (!hook) throw new CheckCondition(Sense.invalidFieldInCdb()); // no microcode support configured
      const withOffsets = mode === 0x06 || mode === 0x07 || mode === 0x0e;
      if (!withOffsets && offset !== 0 && mode !== 0x0f) throw new CheckCondition(Sense.invalidFieldInCdb());
      let image = images.get(unit.index) ?? new Uint8Array(0);
      if (mode === 0x04 || mode === 0x05) image = dataOut.slice();
      else if (withOffsets) {
        if (offset === 0) image = new Uint8Array(0);
        image = padTo(image, Math.max(image.length, offset + dataOut.length)).slice();
        image.set(dataOut, offset);
      }
      images.set(unit.index, image);
      const refused = await hook({
        lun: unit.index,
        mode,
        bufferId: id,
        offset,
        segment: dataOut,
        image,
        activate: mode !== 0x0e,
        save: mode === 0x05 || mode === 0x07 || mode === 0x0e,
      });
      if (refused) throw new CheckCondition(refused);
      return undefined;
    },
  });

  commands.set(0xa3, {
    name: 'MAINTENANCE IN',
    plan: () => ({ direction: 'in' }),
    run: ({ cdb }) => {
      if (((cdb[1] ?? 0) & 0x1f) !== 0x0c) throw new CheckCondition(Sense.invalidFieldInCdb());
      return cut(reportSupportedOperationCode(env, cdb), be32(cdb, 6));
    },
  });

  return commands;
}

/**
 * REPORT SUPPORTED OPERATION CODES (SPC-5 §6.35), one-command format only (REPORTING OPTIONS
 * 001b-011b). WRITE BUFFER is asked with its MODE as the service action (011b), as SPC-5 allows
 * for commands whose modes are reported one by one.
 */
function reportSupportedOperationCode(env: TargetEnv, cdb: Uint8Array): Uint8Array {
  const options = (cdb[2] ?? 0) & 0x07;
  const opcode = cdb[3] ?? 0;
  const action = be16(cdb, 4);
  if (options < 1 || options > 3) throw new CheckCondition(Sense.invalidFieldInCdb());
  let supported = env.supportsOpcode(opcode);
  if (opcode === 0x3b && options === 3) {
    const model = env.firmwareModel();
    const download = [0x04, 0x05, 0x06, 0x07, 0x0d, 0x0e, 0x0f].includes(action);
    supported = download ? (model?.modes.has(action) ?? env.firmwareHook() !== undefined) : action === 0x02;
  }
  const size = opcode >= 0xa0 ? 12 : opcode >= 0x20 ? 10 : 6;
  const out = new Uint8Array(4 + size);
  out[1] = supported ? 0x03 : 0x01; // SUPPORT: 011b supported per the standard, 001b not supported
  put16(out, 2, size);
  out[4] = opcode;
  out.fill(0xff, 5, 4 + size - 1);
  return out;
}

function padTo(data: Uint8Array, length: number): Uint8Array {
  if (data.length >= length) return data;
  const out = new Uint8Array(length);
  out.set(data);
  return out;
}

function standardInquiry(env: TargetEnv, unit: LogicalUnit): Uint8Array {
  const out = new Uint8Array(36);
  out[0] = 0x00; // connected, direct-access block device
  out[1] = unit.removable ? 0x80 : 0x00;
  out[2] = 0x06; // SPC-4
  out[3] = 0x02; // response data format 2
  out[4] = out.length - 5;
  out.set(asciiField(env.identity.vendor, 8), 8);
  out.set(asciiField(env.identity.product, 16), 16);
  out.set(asciiField(env.identity.revision, 4), 32);
  return out;
}

export const SUPPORTED_VPD_PAGES = [0x00, 0x80, 0x83, 0xb0] as const;

function vpdPage(env: TargetEnv, unit: LogicalUnit, page: number): Uint8Array {
  const withHeader = (body: Uint8Array) => {
    const out = new Uint8Array(4 + body.length);
    out[1] = page;
    put16(out, 2, body.length);
    out.set(body, 4);
    return out;
  };
  switch (page) {
    case 0x00:
      return withHeader(Uint8Array.from(SUPPORTED_VPD_PAGES));
    case 0x80:
      return withHeader(asciiField(unitSerial(env, unit), unitSerial(env, unit).length));
    case 0x83: {
      const naa = new Uint8Array(12);
      naa[0] = 0x01; // binary
      naa[1] = 0x03; // associated with the LU, designator type NAA
      naa[3] = 8;
      put64(naa, 4, naaDesignator(env, unit));
      const t10Text =
        env.identity.vendor.padEnd(8).slice(0, 8) +
        env.identity.product.padEnd(16).slice(0, 16) +
        unitSerial(env, unit);
      const t10 = new Uint8Array(4 + t10Text.length);
      t10[0] = 0x02; // ASCII
      t10[1] = 0x01; // T10 vendor ID based
      t10[3] = t10Text.length;
      t10.set(asciiField(t10Text, t10Text.length), 4);
      return withHeader(concat([naa, t10]));
    }
    case 0xb0: {
      const body = new Uint8Array(0x3c);
      put16(body, 2, 1); // optimal transfer length granularity: 1 block
      put32(body, 4, env.maxTransferBlocks);
      put32(body, 8, Math.min(env.maxTransferBlocks, 128)); // optimal transfer length
      return withHeader(body);
    }
    default:
      throw new CheckCondition(Sense.invalidFieldInCdb());
  }
}

function unitSerial(env: TargetEnv, unit: LogicalUnit): string {
  return env.units.length > 1 ? `${env.identity.serial}-${unit.index}` : env.identity.serial;
}

/** NAA 5 (IEEE registered): a made-up OUI and a vendor part hashed from the serial, distinct per LUN. */
function naaDesignator(env: TargetEnv, unit: LogicalUnit): bigint {
  let hash = 0x811c9dc5;
  for (const ch of unitSerial(env, unit)) hash = Math.imul(hash ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return (0x5n << 60n) | (0x0014a5n << 36n) | (BigInt(hash) << 4n) | BigInt(unit.index & 0xf);
}

function modePages(unit: LogicalUnit, pc: number, page: number): Uint8Array {
  const changeable = pc === 1;
  const caching = new Uint8Array(20);
  caching[0] = 0x08;
  caching[1] = 0x12;
  if (!changeable) caching[2] = (pc === 2 ? true : unit.writeCacheEnabled) ? 0x04 : 0x00; // WCE
  const control = new Uint8Array(12);
  control[0] = 0x0a;
  control[1] = 0x0a;
  if (!changeable) {
    control[2] = 0x02; // GLTSD; D_SENSE 0: fixed-format sense unless asked
    put16(control, 8, 0xffff); // busy timeout period: unlimited
  }
  switch (page) {
    case 0x08:
      return caching;
    case 0x0a:
      return control;
    case 0x3f:
      return concat([caching, control]);
    default:
      throw new CheckCondition(Sense.invalidFieldInCdb());
  }
}

function blockDescriptor(unit: LogicalUnit, long: boolean): Uint8Array {
  if (long) {
    const d = new Uint8Array(16);
    put64(d, 0, unit.blockCount);
    put32(d, 12, unit.blockSize);
    return d;
  }
  const d = new Uint8Array(8);
  put24(d, 1, unit.blockCount > 0xffffffn ? 0xffffff : Number(unit.blockCount));
  put24(d, 5, unit.blockSize);
  return d;
}
