// Timing and statistics shared by every suite. Samples are nanoseconds per operation.
//
// Fast operations (L1 hits, well under a microsecond) are timed in blocks: one sample is the mean
// of `block` back-to-back calls, so the clock's own cost (~30-50 ns per hrtime read) does not swamp
// them; median and p99 are then taken across blocks. Network operations are timed one call per sample.

import { seededRandom } from '@strata/devstack/seeded-random';

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

// The bench's shuffles are random but reproducible: the one seeded PRNG of the repo's tests.
export { seededRandom };

/** A shuffled copy of `items` (Fisher-Yates) drawing from `random`. */
export function shuffled(items, random = Math.random) {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * Interleaved per iteration: every iteration takes one sample of every contestant, in a freshly
 * shuffled order, so drift of the machine (other processes, GC, CPU clocks) lands on all of them
 * alike and no contestant owns a slot of the order (rotating whole rounds let a noisy round fall on
 * one contestant's turn). A contestant is `{ name, op(i), sync? }`; `op` may return a promise
 * (awaited) unless `sync`. `rounds × samplesPerRound` iterations (or `iterations`); stops early when
 * `maxMs` has passed (checked between iterations), every contestant keeping the same sample count.
 */
export async function interleave(
  contestants,
  {
    rounds = 5,
    samplesPerRound = 100,
    iterations = rounds * samplesPerRound,
    block = 1,
    warmup = 20,
    maxMs = 30_000,
    seed,
  },
) {
  const samples = new Map(contestants.map((c) => [c.name, []]));
  const counters = new Map(contestants.map((c) => [c.name, 0]));
  const random = seededRandom(seed);
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
  for (let s = 0; s < warmup; s++) for (const c of shuffled(contestants, random)) await runSample(c);
  const deadline = Date.now() + maxMs;
  for (let it = 0; it < iterations && Date.now() < deadline; it++) {
    for (const c of shuffled(contestants, random)) samples.get(c.name).push(await runSample(c));
  }
  return new Map([...samples].map(([name, list]) => [name, summarize(list)]));
}

/**
 * Median and spread of one number measured in several runs: `{ median, min, max, values }`.
 * @example spread([1.1, 1.5, 1.2]) // { median: 1.2, min: 1.1, max: 1.5, values: [1.1, 1.5, 1.2] }
 */
export function spread(values) {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, values };
  return {
    median: median(finite),
    min: Math.min(...finite),
    max: Math.max(...finite),
    values,
  };
}

/** The median: the mean of the middle two for an even count (unlike `quantile`'s nearest rank). */
export function median(values) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
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
