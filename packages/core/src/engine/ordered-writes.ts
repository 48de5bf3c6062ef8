import { StrataError } from '../errors.js';
import { ORDERED_PUT, RESERVE, SEED_COUNTER } from '../l2/scripts.js';
import type { Row } from '../l3/types.js';
import { EPOCH_SPAN } from '../l3/versions-table.js';
import { ABSENT, type SchemaCache } from './schema-cache.js';

/** A write ordered by Redis: its key, and its row (stored shape and plaintext), or none for a delete. */
export interface OrderedWrite {
  readonly key: string;
  readonly stored?: Row;
  readonly plain?: Row;
}

/**
 * Writes ordered by Redis (write-behind before its flush, and schemas whose source of truth is L2):
 * one script takes a version per key from the schema's counter and writes each envelope with it, so
 * no clock decides which of two writes is newer. L1 takes each value with its version. Resolves the
 * versions and, per key, whether it held a row before. Throws what L2 throws: nothing is written.
 */
export async function writeOrdered(
  cache: SchemaCache,
  writes: readonly OrderedWrite[],
  pending: boolean,
): Promise<{ versions: number[]; held: boolean[] }> {
  const l2 = cache.l2!;
  const run = async (floor: number): Promise<unknown[]> => {
    const rowKeys = await cache.rowKeys(writes.map((w) => w.key));
    const expiresAt = (ms: number) => (ms > 0 ? cache.config.clock.now() + ms : 0);
    const args = [String(floor), pending ? '1' : '0', cache.owner];
    for (const w of writes) {
      const ms = w.stored ? cache.l2TtlMs : cache.tombstoneTtlMs();
      args.push(
        w.stored ? 'r' : 'a',
        String(Math.ceil(ms)),
        String(expiresAt(ms)),
        w.stored ? cache.rows.toL2(w.stored) : '',
      );
    }
    const keys = [cache.keys.tickKey, cache.keys.versionKey, cache.keys.searchGenerationKey, ...rowKeys];
    return (await l2.run(ORDERED_PUT, keys, args)) as unknown[];
  };
  // Replies: {first, sgen, tick, held…}, or {-3, tick}, {-1, tick}, {-2, stored, tick}.
  const tickOf = (r: unknown[]) => {
    const status = Number(r[0]);
    return Number(status === -3 || status === -1 ? r[1] : r[2]);
  };
  const reply = await withSeededCounter(
    cache,
    run,
    tickOf,
    (r) => Number(r[0]),
    (r) => Number(r[1]),
  );
  const first = Number(reply[0]);
  const versions = writes.map((_, i) => first + i);
  writes.forEach((w, i) => {
    const value = w.plain ? cache.l1Value(w.plain, false) : ABSENT;
    cache.offerL1(w.key, value, cache.l1TtlMs, versions[i]!);
  });
  return { versions, held: writes.map((_, i) => Number(reply[3 + i]) === 1) };
}

/**
 * Takes `n` versions from the schema's counter without writing anything (a transaction that writes
 * a write-behind schema, before Postgres commits).
 */
export async function reserveVersions(cache: SchemaCache, n: number): Promise<number[]> {
  const keys = [cache.keys.tickKey, cache.keys.versionKey];
  const run = async (floor: number) =>
    (await cache.l2!.run(RESERVE, keys, [String(floor), String(n)])) as unknown[];
  // Replies: {first, tick}, or {-3, tick}, {-1, tick}.
  const reply = await withSeededCounter(
    cache,
    run,
    (r) => Number(r[1]),
    (r) => Number(r[0]),
    () => undefined,
  );
  const first = Number(reply[0]);
  return Array.from({ length: n }, (_, i) => first + i);
}

/**
 * Runs `attempt` (with the tick floor this instance saw) and tells the watch the tick it replied.
 * When Redis went back (-3: the tick; the watch resets every schema), the counter is missing (-1)
 * or a key holds a version the counter has not reached (-2, after a restore), starts a new epoch
 * (from Postgres, which remembers every epoch started) and runs it once more. A counter suspected
 * after a Redis reset is reseeded before the first attempt.
 */
async function withSeededCounter<R>(
  cache: SchemaCache,
  attempt: (floor: number) => Promise<R>,
  tick: (reply: R) => number,
  status: (reply: R) => number,
  stored: (reply: R) => number | undefined,
): Promise<R> {
  const run = async () => {
    const floor = cache.watch.floor();
    const reply = await attempt(floor);
    cache.watch.observe(undefined, tick(reply), floor);
    return reply;
  };
  if (cache.counterSuspect) await seedCounter(cache, undefined);
  let reply = await run();
  if (status(reply) >= 0) return reply;
  await seedCounter(cache, status(reply) === -2 ? stored(reply) : undefined);
  reply = await run();
  if (status(reply) >= 0) return reply;
  throw new StrataError(
    'L2_UNAVAILABLE',
    `schema ${cache.schema.name}: its write-behind version counter could not be seeded`,
    {
      details: { schema: cache.schema.name },
    },
  );
}

async function seedCounter(cache: SchemaCache, storedVersion: number | undefined): Promise<void> {
  const epoch = cache.l3 ? await cache.l3.nextEpoch(cache.schema) : 1;
  const past = storedVersion === undefined ? 0 : (Math.floor(storedVersion / EPOCH_SPAN) + 1) * EPOCH_SPAN;
  const floor = Math.max(epoch * EPOCH_SPAN, past);
  await cache.l2!.run(SEED_COUNTER, [cache.keys.versionKey], [String(floor)]);
  cache.counterSuspect = false;
}
