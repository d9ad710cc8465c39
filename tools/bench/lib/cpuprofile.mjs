// Reads a V8 .cpuprofile (node --cpu-prof) into the functions with the most self time.
// Pure: profile JSON in, sorted rows out.

/**
 * @param profile {{ nodes: {id, callFrame: {functionName, url, lineNumber}, hitCount?}[],
 *   samples?: number[], timeDeltas?: number[] }}
 * @returns {{ name, where, selfMs, selfPercent }[]} aggregated by function and location, most self time first
 */
export function topFrames(profile, limit = 20) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  if (profile.samples && profile.timeDeltas && profile.samples.length === profile.timeDeltas.length) {
    // A sample's time is the delta to the NEXT sample (V8 records the gap before each sample).
    for (let i = 0; i < profile.samples.length; i++) {
      const dt = profile.timeDeltas[i + 1] ?? 0;
      selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + Math.max(0, dt));
    }
  } else {
    for (const n of profile.nodes) selfUs.set(n.id, n.hitCount ?? 0);
  }
  const rows = new Map();
  let total = 0;
  for (const [id, us] of selfUs) {
    const f = byId.get(id)?.callFrame;
    if (!f) continue;
    const name = f.functionName || '(anonymous)';
    const file = f.url
      ? f.url.replace(/^file:\/\//, '').replace(/^.*\/(packages|node_modules|tools|native)\//, '$1/')
      : '';
    const where = file ? `${file}:${f.lineNumber + 1}` : '';
    const key = `${name}\u0000${where}`;
    const row = rows.get(key) ?? { name, where, selfUs: 0 };
    row.selfUs += us;
    rows.set(key, row);
    total += us;
  }
  return [...rows.values()]
    .sort((a, b) => b.selfUs - a.selfUs)
    .slice(0, limit)
    .map((r) => ({
      name: r.name,
      where: r.where,
      selfMs: r.selfUs / 1000,
      selfPercent: total > 0 ? (100 * r.selfUs) / total : 0,
    }));
}
