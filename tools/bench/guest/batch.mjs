// Queued 4 KiB random reads through ScsiDevice.readBatch: one call per depth, `depth` reads in
// flight (UAS queues them at the device by tag; BOT runs them one after the other).

/** IOPS per depth: `lbasFor(depth)` gives the LBAs (4 KiB each, `blocks` blocks), read in one batch. */
export async function randomViaBatch(dev, depths, lbasFor, blocks) {
  const out = {};
  for (const depth of depths) {
    const reads = lbasFor(depth).map((lba) => ({ lba, blocks }));
    await dev.readBatch(reads.slice(0, depth), { queueDepth: depth }); // warm
    const t0 = process.hrtime.bigint();
    await dev.readBatch(reads, { queueDepth: depth });
    out[depth] = { count: reads.length, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
  }
  return out;
}
