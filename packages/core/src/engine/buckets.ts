import type { ResolvedConfig } from '../config.js';
import { StrataError } from '../errors.js';
import { fnv1a } from '../hash.js';
import type { CompiledSchema } from '../schema/types.js';
import type { Bucketing } from './bucketing.js';
import type { SchemaGeneration } from './generation.js';
import { KeySpace } from './keys.js';
import type { L2Watch } from './l2-watch.js';

/** One bucket of a schema: its keys, its generation (none without L2), its shard's watch. */
export interface Bucket {
  readonly keys: KeySpace;
  readonly generation: SchemaGeneration | undefined;
  readonly watch: L2Watch;
}

/**
 * The root of bucket `b` of an app split into `count` buckets (`config.buckets`, Redis Cluster
 * layout C: docs/cluster-notes.md): the keyPrefix itself for one bucket, so an app of one bucket
 * keeps today's keys byte for byte; else `{root#b}`, a hash tag per bucket, under which each bucket
 * holds today's whole layout (so every script of one row's call runs on one slot).
 */
export function bucketRoot(root: string, b: number, count: number): string {
  return count === 1 ? root : `{${root}#${b}}`;
}

/**
 * A schema's keys in every bucket, and the bucket of each row: FNV-1a of the schema's key identity
 * and the row's id, scaled to the count (stable across instances and runtimes; 0 for one bucket).
 */
export class KeyRouter {
  readonly spaces: readonly KeySpace[];
  readonly #seed: number;

  constructor(root: string, schema: CompiledSchema, codecName: string, count: number) {
    this.spaces = Array.from(
      { length: count },
      (_, b) => new KeySpace(bucketRoot(root, b, count), schema, codecName),
    );
    this.#seed = fnv1a(`${this.spaces[0]!.prefix}\0`);
  }

  /** The bucket of the row whose key (normalized id) is `id`. */
  bucket(id: string): number {
    const count = this.spaces.length;
    // Mixed first: FNV-1a's bits barely move with the last character (p1, p2, … in one bucket).
    let h = fnv1a(id, this.#seed);
    h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
    h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
    return ((h ^ (h >>> 16)) >>> 0) % count;
  }

  /** The keys of the bucket that holds row `id`. */
  of(id: string): KeySpace {
    return this.spaces[this.bucket(id)]!;
  }
}

/**
 * Over one bucket, nothing; over several, `config.bucketing` (see {@link Bucketing}) must be there
 * and accept the config (INVALID_CONFIG, nothing opened, otherwise).
 */
export function checkBuckets(config: ResolvedConfig): void {
  if (config.buckets === 1) return;
  if (!config.bucketing) {
    throw new StrataError(
      'INVALID_CONFIG',
      'config.buckets: more than one needs config.bucketing: clusterBuckets',
      {
        details: { field: 'bucketing' },
      },
    );
  }
  config.bucketing.check(config);
}
