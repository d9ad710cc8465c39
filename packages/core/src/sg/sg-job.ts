/**
 * The command table of an SG_IO job (native/src/linux/sg_job.h): one 24-byte entry per command,
 * byte 0 the CDB length, bytes 4..7 the data length (u32 little-endian), bytes 8..23 the CDB.
 * The engine runs the table on a pool thread and stops at the first command that does not come
 * back plain; PassThroughTransport judges that one.
 */
export const SG_JOB_ENTRY_BYTES = 24;
/** Most commands the engine keeps in flight at once (kSgJobMaxDepth). */
export const SG_JOB_MAX_DEPTH = 4;

export function encodeSgJobTable(commands: readonly { cdb: Uint8Array; length: number }[]): Uint8Array {
  const table = new Uint8Array(commands.length * SG_JOB_ENTRY_BYTES);
  const view = new DataView(table.buffer);
  commands.forEach((c, i) => {
    const at = i * SG_JOB_ENTRY_BYTES;
    table[at] = c.cdb.length;
    view.setUint32(at + 4, c.length, true);
    table.set(c.cdb, at + 8);
  });
  return table;
}
