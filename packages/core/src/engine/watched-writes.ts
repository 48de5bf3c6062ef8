import { LIFE_CHANGED, lifeTail } from '../l2/life-script.js';
import { SHAPES_CHANGED } from '../l2/shape-scripts.js';
import type { L2Script } from '../l2/types.js';
import type { RunPerBucket } from './bucketing.js';
import type { Bucket } from './buckets.js';
import type { EngineContext } from './context.js';
import type { MissedWriteRepair } from './generation.js';
import type { ShapeTail } from './live-shapes.js';
import type { SchemaCache } from './schema-cache.js';

/*
 * The write scripts of the tick-and-generation kind (PUT, DROP, MARK) as a schema sends them: with
 * the bucket's tick, generation and Redis life checked in the same request, the table's other live
 * shapes marked along, and one request per bucket whose failures are told apart (what L2 missed).
 */

/** A write script's row keys and args, built for a generation (see `runWatched`). */
export type BuildCall = (generation: number) => { keys: readonly string[]; args: readonly string[] };

/** `runWatched`'s options: see there. */
export interface WatchedOptions {
  readonly bumps?: boolean;
  readonly redoAfterReset?: boolean;
  readonly writes?: readonly string[];
}

/** What L2 missed of one write call: the buckets whose request failed (ascending), and the first failure. */
export interface MissedWrite {
  readonly buckets: readonly number[];
  readonly error: unknown;
}

/** A `MissedWrite` with the positions (among the call's keys) of the failed buckets' keys. */
export interface Missed extends MissedWrite {
  readonly at: ReadonlySet<number>;
}

/**
 * The shape tail of a write of `keys` (see `LiveShapes`): the table's other live shapes get a
 * superseded marker at the write's version in the same script. Not for a schema without L3: its
 * rows live only in L2, and a marker would hide them from the other shape.
 */
export function shapeTail(
  cache: SchemaCache,
  keys: readonly string[],
  generation = cache.generation,
): ShapeTail | undefined {
  if (!cache.l3 || !generation) return undefined;
  const { shapes } = generation;
  if (shapes.others.length === 0) return shapes.tail(keys, '', 0, 0);
  const ttl = cache.tombstoneTtlMs();
  return shapes.tail(keys, cache.owner, cache.keepMs(ttl), cache.l2Now() + ttl);
}

/** A write script replied `SHAPES_CHANGED`: learns the live shapes it replied; false for any other reply. */
export function shapesChanged(
  cache: SchemaCache,
  reply: readonly unknown[],
  generation = cache.generation!,
): boolean {
  if (Number(reply[1]) !== SHAPES_CHANGED) return false;
  generation.shapes.learn(reply.slice(2));
  return true;
}

/**
 * One try of `runWatched` in generation `current`: the reply after its tick and status, or why it
 * must be sent again (its reply found Redis reset, the live shapes changed, or the generation
 * moved on: learnt here).
 */
export async function sendWatched(
  cache: SchemaCache,
  script: L2Script,
  build: BuildCall,
  { bumps = false, writes }: WatchedOptions,
  { keys: space, generation, watch }: Bucket,
  current: number,
): Promise<
  { reply: unknown[]; again?: undefined } | { reply?: undefined; again: 'reset' | 'shapes' | 'moved' }
> {
  const floor = watch.floor();
  const call = build(current);
  const tail = writes && shapeTail(cache, writes, generation);
  const keys = [space.tickKey, space.generationKey, ...call.keys];
  if (bumps) keys.push(space.searchGenerationKey);
  const args = [String(current), ...call.args];
  if (tail) {
    keys.push(...tail.keys);
    args.push(...tail.args);
  }
  lifeTail(watch.life(), space.bootKey, keys, args);
  const resets = watch.resets;
  const forgets = generation!.forgets;
  const reply = (await cache.l2!.run(script, keys, args)) as unknown[];
  // Another Redis life than cache instance found: nothing written, sent again once it moved on.
  if (Number(reply[1]) === LIFE_CHANGED) {
    watch.lifeChanged(String(reply[2]), Number(reply[0]));
    return { again: 'reset' };
  }
  watch.observe(undefined, Number(reply[0]), floor);
  if (watch.resets !== resets) return { again: 'reset' };
  if (shapesChanged(cache, reply, generation)) return { again: 'shapes' };
  if (Number(reply[1]) !== -4) return { reply: reply.slice(2) };
  generation!.set(Number(reply[2]), forgets);
  return { again: 'moved' };
}

/**
 * `byBucket` of a write: each bucket's failure is caught where it happens, so every bucket's
 * request is awaited (none still running once cache resolves) and the ones L2 missed are known.
 * A failed bucket's items are undefined in `reply`.
 */
export async function writeByBucket(
  cache: SchemaCache,
  keys: readonly string[],
  run: RunPerBucket,
): Promise<{ reply: unknown[]; missed: Missed | undefined }> {
  const buckets: number[] = [];
  const at = new Set<number>();
  const errors: unknown[] = [];
  const reply = await cache.byBucket(keys, async (bucket, positions) => {
    try {
      return await run(bucket, positions);
    } catch (err) {
      errors.push(err);
      buckets.push(cache.buckets.indexOf(bucket));
      for (const i of positions ?? keys.keys()) at.add(i);
      return [];
    }
  });
  if (errors.length === 0) return { reply, missed: undefined };
  return { reply, missed: { buckets: buckets.sort((x, y) => x - y), at, error: errors[0] } };
}

/**
 * L2 missed a committed write in `missed.buckets` (their requests failed; the other buckets took
 * theirs): those generations move on before their next use, and the failure is counted and logged
 * once, naming the buckets. With no L3, L2 is the source of truth: the write did not happen (thrown).
 */
export function missedIn(
  cache: SchemaCache,
  ctx: EngineContext,
  op: string,
  missed: Missed,
  repairs?: ReadonlyMap<Bucket, { rows: number; repair: MissedWriteRepair }>,
): void {
  if (!cache.l3) throw missed.error;
  for (const b of missed.buckets) {
    const bucket = cache.buckets[b]!;
    const again = repairs?.get(bucket);
    bucket.generation!.recordMissedWrite(again?.repair, again?.rows);
  }
  const fields = cache.buckets.length > 1 ? { buckets: missed.buckets } : undefined;
  ctx.tolerate(cache.schema.name, 'l2', op, missed.error, fields);
}

/** The items at positions `at` (all of them when undefined: see `byBucket`). */
export function pick<T>(items: readonly T[], at: readonly number[] | undefined): readonly T[] {
  return at ? at.map((i) => items[i]!) : items;
}
