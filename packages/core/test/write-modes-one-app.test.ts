import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { eq } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyRouter } from '../src/engine/buckets.js';
import {
  clusterBuckets,
  createMemoryQueue,
  defineSchema,
  type InvalidationBus,
  Strata,
  type StrataConfig,
} from '../src/index.js';
import { createUpstashLogBus } from '../src/upstash/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

// One app (one keyPrefix) writing one table in both modes at once: write-behind instances beside
// write-through ones (a rolling deploy switching `writeMode`, a write-through API beside a
// write-behind worker). Its write-through writes take versions in the order of its write-behind
// counter (`ThroughOrder`): a write acknowledged after another wins, in Postgres and every tier
// after the flush, whichever mode made either. Before, a write-through write after a queued
// write-behind write of its key took Postgres' `version + 1`, below the queued write's counter
// version, and the flush put the older value back.

let stack: EngineStack;
let items: ReturnType<typeof itemsTable>;
const itemsTable = (pg: string) =>
  pgSchema(pg).table('items', { id: text('id').primaryKey(), n: integer('n').notNull(), note: text('note') });
const channels: string[] = [];
const buses: InvalidationBus[] = [];

beforeAll(async () => {
  stack = await engineStack('modeswitch_modes');
  items = itemsTable(stack.name);
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: items })] }).migrate();
});
afterAll(async () => {
  await Promise.all(buses.map((b) => b.close()));
  if (channels.length > 0) await new Redis(testDevstack().upstash!).del(...channels);
  await stack?.cleanup();
});

/** Scripts sent since the last reset (the bus's XADDs left out). */
const scripts = () => stack.l2Commands.filter((c) => c.startsWith('evalsha'));

/**
 * An app of its own (keyPrefix, bus) with a write-behind and a write-through schema of `items`. The
 * claims of the earlier tests' apps (closed) are lapsed, as 60 s would.
 */
async function app(label: string, extra: Partial<StrataConfig> = {}) {
  await stack.lapseClaims();
  const keyPrefix = `${stack.keyPrefix}${label}`;
  const channel = uniqueName(`modeswitch_${label}`);
  channels.push(channel);
  const behind = defineSchema({ name: 'items', table: items, writeMode: 'write-behind' });
  const through = defineSchema({ name: 'items', table: items });
  const queue = createMemoryQueue(); // one process: every write-behind instance flushes from it
  const instance = (schema: typeof behind) => {
    const bus = createUpstashLogBus({ ...testDevstack().upstash!, stream: channel });
    buses.push(bus);
    return new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix,
      coherence: { bus, pollInterval: 0 },
      writeBehind: { queue, threshold: 1_000_000 },
      schemas: [schema],
      ...extra,
    });
  };
  return { keyPrefix, behind, through, instance };
}

async function inPostgres(id: string): Promise<number | undefined> {
  const [row] = await stack.db.select().from(items).where(eq(items.id, id));
  return row?.n;
}

/** Postgres, then each instance (its L1, L2 below it) and a new one (L2, then Postgres), for `ids`. */
async function expectEveryTier(
  readers: { strata: Strata; schema: ReturnType<typeof defineSchema> }[],
  expected: Record<string, number | undefined>,
) {
  for (const [id, n] of Object.entries(expected)) {
    expect(await inPostgres(id), `${id} in Postgres`).toBe(n);
    for (const [i, { strata, schema }] of readers.entries())
      expect(((await strata.find(schema, id)) as { n: number } | undefined)?.n, `${id} read by ${i}`).toBe(n);
  }
}

describe('one app writing a table write-behind and write-through at once', () => {
  for (const buckets of [1, 4]) {
    const bucketed: Partial<StrataConfig> = buckets > 1 ? { buckets, bucketing: clusterBuckets } : {};
    it(`buckets: ${buckets}: a write-through write after a queued write-behind write of its key wins, and a write-behind write after it wins in turn`, async () => {
      const { behind, through, instance, keyPrefix } = await app(`b${buckets}`, bucketed);
      const wb = instance(behind);
      const wt = instance(through);
      const ids = Array.from({ length: 24 }, (_, i) => `k${i}`);
      if (buckets > 1) {
        const router = new KeyRouter(keyPrefix, behind, 'json', buckets);
        expect(new Set(ids.map((id) => router.bucket(id))).size, 'every bucket').toBe(buckets);
      }
      await wb.setMany(
        behind,
        ids.map((id) => ({ id, n: 1 })),
      );
      await wb.flushDirty();
      await wb.set(behind, { id: 'other', n: 1 }); // the counter moves on past the stored versions
      await wb.setMany(
        behind,
        ids.map((id) => ({ id, n: 2 })),
      ); // queued
      await wt.set(through, { id: 'k0', n: 3 });
      await wt.setMany(
        through,
        ids.slice(1, 12).map((id) => ({ id, n: 3 })),
      );
      await wt.deleteMany(through, ids.slice(12, 18));
      await wt.delete(through, 'k18');
      await wb.flushDirty();
      const fresh = instance(through);
      const readers = [
        { strata: wb, schema: behind },
        { strata: wt, schema: through },
        { strata: fresh, schema: through },
      ];
      const expected = (i: number) => (i < 12 ? 3 : i < 19 ? undefined : 2);
      await expectEveryTier(readers, Object.fromEntries(ids.map((id, i) => [id, expected(i)])));
      // A write-behind write after the write-through ones wins at its flush.
      await wb.setMany(
        behind,
        ids.slice(0, 15).map((id) => ({ id, n: 4 })),
      );
      await wb.flushDirty();
      await expectEveryTier(readers, Object.fromEntries(ids.map((id, i) => [id, i < 15 ? 4 : expected(i)])));
      for (const s of [wb, wt, fresh]) await s.close();
    });
  }

  it('a transaction after a queued write-behind write of its keys wins after the flush', async () => {
    const { behind, through, instance } = await app('tx');
    const wb = instance(behind);
    const wt = instance(through);
    await wb.setMany(behind, [
      { id: 't1', n: 1 },
      { id: 't2', n: 1 },
    ]);
    await wb.flushDirty();
    await wb.set(behind, { id: 'other', n: 1 });
    await wb.setMany(behind, [
      { id: 't1', n: 2 },
      { id: 't2', n: 2 },
    ]); // queued
    await wt.tx().set(through, { id: 't1', n: 3 }).delete(through, 't2').commit();
    await wb.flushDirty();
    await expectEveryTier(
      [
        { strata: wb, schema: behind },
        { strata: wt, schema: through },
        { strata: instance(through), schema: through },
      ],
      { t1: 3, t2: undefined },
    );
    for (const s of [wb, wt]) await s.close();
  });

  // Was a KNOWN GAP (it.fails): the write-through set carried none of the columns of its key's write
  // still queued by the write-behind instances; that write is older, so its flush was refused, and
  // its columns were lost. It merges over them now (`overPending`; more cases in
  // write-modes-partial.test.ts).
  it("a write-through set leaving columns out keeps a queued write-behind write's other columns", async () => {
    const { behind, through, instance } = await app('partial');
    const wb = instance(behind);
    const wt = instance(through);
    await wb.set(behind, { id: 'p1', n: 1, note: 'old' });
    await wb.flushDirty();
    await wb.set(behind, { id: 'p1', n: 1, note: 'queued' }); // queued
    await wt.set(through, { id: 'p1', n: 2 }); // after it, note left out
    await wb.flushDirty();
    const [row] = await stack.db.select().from(items).where(eq(items.id, 'p1'));
    expect(row).toEqual({ id: 'p1', n: 2, note: 'queued' });
    for (const s of [wb, wt]) await s.close();
  });

  it('an app with no write-behind counter makes no request more: one script after the statement; with one, one more before it', async () => {
    const { behind, through, instance } = await app('trips');
    const wt = instance(through);
    await wt.set(through, { id: 'r0', n: 1 }); // the first write (claim, generation, epoch learned)
    await wt.settled();
    stack.reset();
    await wt.set(through, { id: 'r1', n: 1 });
    expect(scripts(), 'no counter').toEqual(['evalsha put']);
    expect(stack.statementsOn('items'), 'no counter').toHaveLength(1);
    // The app starts writing the table write-behind: its counter takes a new epoch, which the next
    // write-through write's statement finds (refused, nothing written), so it asks the counter.
    const wb = instance(behind);
    await wb.set(behind, { id: 'r2', n: 1 });
    await wb.settled();
    stack.reset();
    await wt.set(through, { id: 'r2', n: 2 });
    expect(scripts().filter((c) => c === 'evalsha reserve-through')).toHaveLength(2);
    await wt.settled();
    stack.reset();
    await wt.set(through, { id: 'r3', n: 1 });
    expect(scripts(), 'with a counter').toEqual(['evalsha reserve-through', 'evalsha put']);
    expect(stack.statementsOn('items'), 'with a counter').toHaveLength(1);
    await wb.flushDirty();
    expect(await inPostgres('r2')).toBe(2);
    for (const s of [wb, wt]) await s.close();
  });
});
