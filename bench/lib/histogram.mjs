// A latency histogram that processes can send over IPC and merge: log-spaced buckets 2 % wide from
// 100 ns to about 10 s, so a quantile read from it is within 2 % of the true value (the bucket's upper
// bound), and N children's histograms add up bucket by bucket (percentiles of percentiles would not).

const FLOOR_NS = 100;
const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = 940; // 100 ns × 1.02^940 ≈ 12 s

/** The bucket holding `ns`: the smallest index whose upper bound is at least `ns`. */
const bucketOf = (ns) =>
  ns <= FLOOR_NS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ns / FLOOR_NS) / LOG_GROWTH));

/** The upper bound of bucket `i`, in nanoseconds. */
const upperBound = (i) => FLOOR_NS * GROWTH ** i;

/** An empty histogram. */
export function histogram() {
  return { counts: new Uint32Array(BUCKETS), n: 0 };
}

/** Records one latency in nanoseconds. */
export function record(h, ns) {
  h.counts[bucketOf(ns)] += 1;
  h.n += 1;
}

/** The histogram as a small JSON object (non-empty buckets only), for IPC and results files. */
export function toJson(h) {
  const buckets = {};
  for (let i = 0; i < BUCKETS; i++) if (h.counts[i]) buckets[i] = h.counts[i];
  return { n: h.n, buckets };
}

/** Sums histograms in their JSON form into one histogram. */
export function merge(jsons) {
  const h = histogram();
  for (const json of jsons) {
    for (const [i, count] of Object.entries(json.buckets)) h.counts[Number(i)] += count;
    h.n += json.n;
  }
  return h;
}

/**
 * The q-quantile (0..1) in nanoseconds: the upper bound of the bucket holding the nearest-rank sample.
 * @example quantileOf(merge(children.map((c) => c.get)), 0.99) // p99 of every child's gets
 */
export function quantileOf(h, q) {
  if (h.n === 0) return Number.NaN;
  const rank = Math.min(h.n, Math.max(1, Math.ceil(q * h.n)));
  let seen = 0;
  for (let i = 0; i < BUCKETS; i++) {
    seen += h.counts[i];
    if (seen >= rank) return upperBound(i);
  }
  return upperBound(BUCKETS - 1);
}
