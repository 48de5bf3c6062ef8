import { KeyRouter } from '../../src/engine/buckets.js';
import { clusterBuckets, type Schema, Strata, type StrataConfig } from '../../src/index.js';
import type { EngineStack } from './stack.js';

// Apps of four buckets over an engine stack's real tiers (one Redis serves the buckets as a Cluster
// would: buckets are key names), and ids chosen by the bucket they fall in: the key prefix is
// random, so the buckets of a fixed list of ids are too, and a fixed list misses a bucket now and
// then (b0..b3 shared one bucket in 1 run of 64).

/** An app of `buckets: 4` (`clusterBuckets`) on the stack's L2 and L3; `extra` overrides. */
export function fourBuckets(
  stack: EngineStack,
  keyPrefix: string,
  s: Schema,
  extra: Partial<StrataConfig> = {},
): Strata {
  return new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix,
    buckets: 4,
    bucketing: clusterBuckets,
    schemas: [s],
    ...extra,
  });
}

/** Which of the four buckets each id of `s` falls in, under `keyPrefix`. */
export function fourRouter(keyPrefix: string, s: Schema): KeyRouter {
  return new KeyRouter(keyPrefix, s, 'json', 4);
}

/** At least `count` ids named `${tag}${i}`, and at least `least` in every one of the four buckets. */
export function idsOverBuckets(router: KeyRouter, tag: string, count: number, least = 1): string[] {
  const ids: string[] = [];
  const per = [0, 0, 0, 0];
  for (let i = 0; ids.length < count || per.some((n) => n < least); i++) {
    const id = `${tag}${i}`;
    ids.push(id);
    per[router.bucket(id)]! += 1;
  }
  return ids;
}
