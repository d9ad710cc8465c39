/**
 * Milliseconds on a monotonic clock, as `performance.now()` counts them but from another origin
 * (only differences mean anything). Not `performance.now()`: the global `performance` loads
 * node:perf_hooks and its ten internal modules on first use, a measurable part of a short
 * command's start, and nothing else of ours needs them.
 */
export function monotonicMs(): number {
  const [seconds, nanoseconds] = process.hrtime();
  return seconds * 1e3 + nanoseconds / 1e6;
}
