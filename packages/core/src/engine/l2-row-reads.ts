import type { Bucket } from './buckets.js';
import type { SchemaCache } from './schema-cache.js';

/*
 * Reads of row keys in L2: one MGET per bucket with the bucket's tick in the same request (told to
 * its watch, so a Redis reset is found by the read that meets it), read again once after a reset,
 * and waiting for a restore of this instance's own pending rows under way.
 */

/** `L2Watch.observe`'s options for a read (its tick read, not INCR'd): one object, not one per read. */
const TICK_READ_ONLY = { incremented: false } as const;

/**
 * What `sendRowRead` read: the tick, then a value per key; the generation every value must be
 * of, or, over several buckets, `generations[i]` for key i.
 */
export type L2Rows = { values: readonly (string | null)[]; generation: number; generations?: number[] };

/**
 * An L2 read of rows sent by `sendRowRead`: the tier's promise of the values (the tick first), and
 * what `tookRows` reads its reply against: the request (sent again after a reset), its bucket, the
 * generation the values must be of, and the watch's tick floor and reset count when it was sent.
 */
export interface SentRowRead {
  readonly values: Promise<(string | null)[]>;
  readonly request: string[];
  readonly bucket: Bucket;
  readonly generation: number;
  readonly floor: number;
  readonly resets: number;
}

/**
 * MGET of `keys` (all in `bucket`) with the bucket's tick read in the same request (and told to its
 * watch), and the generation the values must be of (a value of an older one was invalidated).
 */
export async function readWatched(
  cache: SchemaCache,
  keys: readonly string[],
  bucket = cache.buckets[0]!,
): Promise<{ values: (string | null)[]; generation: number }> {
  const request = [bucket.keys.tickKey];
  for (let i = 0; i < keys.length; i++) request.push(keys[i]!);
  const { values, generation } = await readTicked(cache, request, bucket);
  // A copy, not a shift: a tier may hand back an array it keeps.
  return { values: values.slice(1), generation };
}

/**
 * `readWatched` of the row keys of `keys` (ids' keys), for the read path: `values[0]` is the
 * app's tick and `values[i + 1]` the value of `keys[i]`. The request is built in one pass and the
 * reply handed back as it came (no row-key array to copy, no slice of up to thousands of values).
 *
 * In the usual case (one bucket, the generation known, no restore under way) the MGET is sent at
 * once and what its reply is read against comes back with it ({@link SentRowRead}): the caller
 * takes the values in a `.then` of the tier's own promise and hands them to {@link tookRows},
 * rather than awaiting an async layer of ours around it (one promise and one turn of the microtask
 * queue fewer per L2 read). Otherwise, and with several buckets, the promise of the whole read.
 */
export function sendRowRead(cache: SchemaCache, keys: readonly string[]): SentRowRead | Promise<L2Rows> {
  if (cache.buckets.length > 1) return readBucketedRows(cache, keys);
  const request = new Array<string>(keys.length + 1);
  request[0] = cache.keys.tickKey;
  for (let i = 0; i < keys.length; i++) request[i + 1] = cache.keys.row(keys[i]!);
  const bucket = cache.buckets[0]!;
  const generation = bucket.generation!.known();
  if (generation === undefined || cache.restore.running) return readTicked(cache, request, bucket);
  const { watch } = bucket;
  // The floor and resets before sending, as `readTicked` takes them.
  const floor = watch.readFloor();
  const resets = watch.resets;
  return { values: cache.l2!.getMany(request), request, bucket, generation, floor, resets };
}

/**
 * The reply to a {@link SentRowRead} (`values`), told to its bucket's watch as `readTicked` tells
 * it; when it found Redis reset, the read once more in the generation after it (a promise).
 */
export function tookRows(
  cache: SchemaCache,
  read: SentRowRead,
  values: (string | null)[],
): L2Rows | Promise<L2Rows> {
  const { watch } = read.bucket;
  watch.observe(undefined, Number(values[0] ?? 0), read.floor, TICK_READ_ONLY);
  if (watch.resets === read.resets) return { values, generation: read.generation };
  return readTicked(cache, read.request, read.bucket, 1);
}

/**
 * `sendRowRead` over several buckets: one MGET per bucket touched (its tick first), in
 * parallel; `generations[i]` is the generation key i's value must be of (its bucket's).
 */
async function readBucketedRows(cache: SchemaCache, keys: readonly string[]): Promise<L2Rows> {
  const values = new Array<string | null>(keys.length + 1).fill(null);
  const generations = new Array<number>(keys.length);
  await cache.byBucket(keys, async (bucket, at) => {
    const read = await readWatched(
      cache,
      at!.map((i) => bucket.keys.row(keys[i]!)),
      bucket,
    );
    at!.forEach((i, j) => {
      values[i + 1] = read.values[j] ?? null;
      generations[i] = read.generation;
    });
    return [];
  });
  return { values, generation: 0, generations };
}

/**
 * MGET of `request` (the tick key first), told to the watch; once more after a reset it found
 * (`from` 1: a reset was found already, cache is that once more).
 */
async function readTicked(
  cache: SchemaCache,
  request: string[],
  { generation: gen, watch }: Bucket,
  from = 0,
): Promise<L2Rows> {
  for (let attempt = from; ; attempt++) {
    // A schema whose rows live in L2 alone waits for the keyPrefix claim's check (see `checked`):
    // there is no Postgres to read instead.
    const generation = gen!.known() ?? (await (cache.l3 ? gen!.current() : gen!.checked()));
    // A reset found (by that generation read, or the last attempt's reply): cache instance's own
    // unflushed writes are put back first (see `restoreOwnPending`).
    if (cache.restore.running) await cache.restore.wait();
    const floor = watch.readFloor();
    const resets = watch.resets;
    const values = await cache.l2!.getMany(request);
    watch.observe(undefined, Number(values[0] ?? 0), floor, TICK_READ_ONLY);
    // Found Redis reset: what it read may be from before; once more, in the generation after it.
    if (watch.resets === resets || attempt > 0) return { values, generation };
  }
}
