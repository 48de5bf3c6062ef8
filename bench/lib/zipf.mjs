// Zipf(s) over `keys` ranks by inverse CDF (a binary search over the cumulative weights), drawing
// from a seeded PRNG: rank 0 is the hottest key. The same sampler as memory-child.mjs's hit-rate run,
// with the exponent as a parameter.
import { seededRandom } from './stats.mjs';

/**
 * A function returning the next rank (0 … keys − 1).
 * @example const next = zipfSampler({ keys: 10_000, s: 1.0, seed: 7 }); ids[next()]
 */
export function zipfSampler({ keys, s = 1.0, seed }) {
  const cdf = new Float64Array(keys);
  let total = 0;
  for (let k = 0; k < keys; k++) {
    total += 1 / (k + 1) ** s;
    cdf[k] = total;
  }
  for (let k = 0; k < keys; k++) cdf[k] /= total;
  const random = seededRandom(seed);
  return () => {
    const u = random();
    let lo = 0;
    let hi = keys - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}
