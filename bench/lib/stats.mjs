// Timing and statistics shared by every suite. Samples are nanoseconds per operation.
//
// Fast operations (L1 hits, well under a microsecond) are timed in blocks: one sample is the mean
// of `block` back-to-back calls, so the clock's own cost (~30-50 ns per hrtime read) does not swamp
// them; median and p99 are then taken across blocks. Network operations are timed one call per sample.

const now = () => process.hrtime.bigint();

/** The q-quantile (0..1) of numbers, nearest rank on a sorted copy. */
export function quantile(values, q) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

export const summarize = (samples) => ({
  median: quantile(samples, 0.5),
  p99: quantile(samples, 0.99),
  n: samples.length,
});

let sink = 0;
/** Keeps results alive so the JIT cannot drop a call whose value is unused. */
export function consume(value) {
  if (value !== undefined && value !== null) sink = (sink + 1) | 0;
}
export const sinkValue = () => sink;

/**
 * Interleaved rounds: every contestant runs `samplesPerRound` samples per round, the order rotating
 * each round, so drift of the machine (other processes, GC, CPU clocks) lands on all of them alike.
 * A contestant is `{ name, op(i), sync? }`; `op` may return a promise (awaited) unless `sync`.
 * Stops early when `maxMs` has passed (checked between samples); the sample count is reported.
 */
export async function interleave(
  contestants,
  { rounds = 5, samplesPerRound = 100, block = 1, warmup = 20, maxMs = 30_000 },
) {
  const samples = new Map(contestants.map((c) => [c.name, []]));
  const counters = new Map(contestants.map((c) => [c.name, 0]));
  const runSample = async (c) => {
    let i = counters.get(c.name);
    let elapsed;
    if (c.sync) {
      const op = c.op;
      const start = now();
      for (let k = 0; k < block; k++) consume(op(i++));
      elapsed = now() - start;
    } else {
      const start = now();
      for (let k = 0; k < block; k++) consume(await c.op(i++));
      elapsed = now() - start;
    }
    counters.set(c.name, i);
    return Number(elapsed) / block;
  };
  for (const c of contestants) for (let s = 0; s < warmup; s++) await runSample(c);
  const deadline = Date.now() + maxMs;
  for (let r = 0; r < rounds && Date.now() < deadline; r++) {
    for (let k = 0; k < contestants.length; k++) {
      const c = contestants[(k + r) % contestants.length];
      const list = samples.get(c.name);
      for (let s = 0; s < samplesPerRound && Date.now() < deadline; s++) list.push(await runSample(c));
    }
  }
  return new Map([...samples].map(([name, list]) => [name, summarize(list)]));
}

/** Runs `fn` `times` times (after `warmup` untimed runs): per-run nanoseconds. */
export async function repeat(fn, { times, warmup = 1 }) {
  for (let i = 0; i < warmup; i++) await fn(-1 - i);
  const out = [];
  for (let i = 0; i < times; i++) {
    const start = now();
    await fn(i);
    out.push(Number(now() - start));
  }
  return summarize(out);
}

/** Human units for nanoseconds: `47 ns`, `1.32 µs`, `2.10 ms`, `1.20 s`. */
export function formatNs(ns) {
  if (!Number.isFinite(ns)) return '–';
  if (ns < 1_000) return `${ns.toFixed(ns < 10 ? 1 : 0)} ns`;
  if (ns < 1_000_000) return `${(ns / 1_000).toFixed(2)} µs`;
  if (ns < 1_000_000_000) return `${(ns / 1_000_000).toFixed(2)} ms`;
  return `${(ns / 1_000_000_000).toFixed(2)} s`;
}

export const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
