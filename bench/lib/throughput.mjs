// Throughput under concurrency: a closed loop keeps `inFlight` calls outstanding (each worker starts
// its next call when its last one resolves) for a fixed time; ops/s is completed calls over the time
// until the last of them resolved. Contestants and in-flight levels are interleaved per iteration in
// a shuffled order, like lib/stats.mjs `interleave`, and each number is the median of the iterations.
import { median, seededRandom, shuffled } from './stats.mjs';

const now = () => process.hrtime.bigint();

/**
 * Runs `op(i)` with `inFlight` calls outstanding for `ms` milliseconds; `next()` hands out the `i`s
 * (distinct across the workers, so no two calls in flight share an id). Returns `{ ops, ns }`.
 * @example await closedLoop((i) => cache.get(ids[i % n]), { inFlight: 16, ms: 250, next: counter() })
 */
export async function closedLoop(op, { inFlight, ms, next }) {
  const start = now();
  const deadline = Date.now() + ms;
  let ops = 0;
  const worker = async () => {
    while (Date.now() < deadline) {
      await op(next());
      ops += 1;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return { ops, ns: Number(now() - start) };
}

/** A counter for `closedLoop`: 0, 1, 2, … */
export function counter(from = 0) {
  let i = from;
  return () => i++;
}

/**
 * Every contestant (`{ name, op(i) }`) at every level of `levels` (calls in flight): `iterations`
 * timed bursts of `burstMs` each (after one untimed burst of `warmupMs`), in a shuffled order per
 * iteration. Returns a Map of `name` to a Map of level to `{ opsPerSec, median }`, `median` being
 * nanoseconds per completed call (1e9 / ops/s), the median over the iterations.
 */
export async function throughput(
  contestants,
  { levels, iterations = 3, burstMs = 250, warmupMs = 100, seed },
) {
  const random = seededRandom(seed);
  const cases = contestants.flatMap((c) => levels.map((level) => ({ c, level, next: counter() })));
  const rates = new Map(cases.map((k) => [k, []]));
  for (const k of shuffled(cases, random))
    await closedLoop(k.c.op, { inFlight: k.level, ms: warmupMs, next: k.next });
  for (let it = 0; it < iterations; it++) {
    for (const k of shuffled(cases, random)) {
      const { ops, ns } = await closedLoop(k.c.op, { inFlight: k.level, ms: burstMs, next: k.next });
      rates.get(k).push(ops / (ns / 1e9));
    }
  }
  const out = new Map(contestants.map((c) => [c.name, new Map()]));
  for (const [k, list] of rates) {
    const opsPerSec = median(list);
    out.get(k.c.name).set(k.level, { opsPerSec, median: 1e9 / opsPerSec, n: list.length });
  }
  return out;
}
