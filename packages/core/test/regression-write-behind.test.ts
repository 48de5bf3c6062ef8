import { eq, sql } from 'drizzle-orm';
import { integer, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../src/driver.js';
import { defineSchema, Q, Strata, type WriteQueue } from '../src/index.js';
import { decodeEnvelope, GENERATION_ERA } from '../src/l2/envelope.js';
import { createMemoryQueue } from '../src/queue/memory-queue.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { wrapL2Run } from './support/wrap.js';

let stack: EngineStack;
let notes: ReturnType<typeof tablesOf>['notes'];
let items: ReturnType<typeof tablesOf>['items'];

function tablesOf(pg: string) {
  const s = pgSchema(pg);
  return {
    notes: s.table('notes', {
      id: text('id').primaryKey(),
      title: text('title').notNull(),
      nickname: text('nickname'),
      // A default only Postgres can apply: the client cannot know it before the flush.
      tag: text('tag').notNull().default(sql`'x' || 'y'`),
      createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    }),
    items: s.table('items', { id: text('id').primaryKey(), level: integer('level').notNull() }),
  };
}

beforeAll(async () => {
  stack = await engineStack('reg_write_behind');
  ({ notes, items } = tablesOf(stack.name));
  await new Strata({
    l3: stack.l3,
    schemas: [defineSchema({ table: notes }), defineSchema({ table: items })],
  }).migrate();
});
afterAll(() => stack?.cleanup());

const instance = (schema: Parameters<Strata['register']>[0], queue: WriteQueue, clock?: Clock) =>
  new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    writeBehind: { queue },
    schemas: [schema],
    ...(clock && { clock }),
  });

async function itemLevel(id: string) {
  const [row] = await stack.db.select().from(items).where(eq(items.id, id));
  return row?.level;
}

describe('write-behind: caches equal Postgres after the flush', () => {
  it('issue 12 item 4: a left-out nullable column, a SQL default and a second autoNowAdd write', async () => {
    const schema = defineSchema({
      table: notes,
      writeMode: 'write-behind',
      fields: { createdAt: { autoNowAdd: true } },
    });
    const queue = createMemoryQueue();
    let skew = 0;
    const writer = instance(schema, queue, { now: () => Date.now() + skew });
    const query = Q().where('id = $1', 'n1').build();

    /** The row as the writer, a fresh instance (from L2), searchCached and Postgres see it: all equal. */
    async function agree() {
      const [inPostgres] = await stack.db.select().from(notes).where(eq(notes.id, 'n1'));
      // On the writer's clock: an instance behind it takes the fresh end the writer stamped as from
      // a clock ahead (a miss, read from Postgres), and this checks what L2 holds.
      const fresh = instance(schema, createMemoryQueue(), { now: () => Date.now() + skew });
      const views = {
        writer: await writer.get(schema, 'n1'),
        fresh: await fresh.get(schema, 'n1'),
        searchCached: (await writer.searchCached(schema, query))[0],
        searchCachedAgain: (await writer.searchCached(schema, query))[0],
      };
      expect(fresh.stats().hits.l2).toBe(1);
      expect(views).toEqual({
        writer: inPostgres,
        fresh: inPostgres,
        searchCached: inPostgres,
        searchCachedAgain: inPostgres,
      });
      return inPostgres!;
    }

    await writer.set(schema, { id: 'n1', title: 'first', nickname: 'nick' });
    await writer.flushDirty();
    const first = await agree();
    expect(first.tag).toBe('xy'); // (b) the SQL default, applied by Postgres, is in every cache

    skew = 60_000; // the second write's autoNowAdd time is a minute later
    await writer.set(schema, { id: 'n1', title: 'second' }); // (a) nickname left out
    await writer.flushDirty();
    const second = await agree();
    expect(second).toEqual({ ...first, title: 'second' }); // (a) nickname kept, (c) the first createdAt kept
  });

  it.each(['invalidate', 'invalidateAll'] as const)(
    'issue 12 item 8: set(v2), then %s and a read before the flush: after it, every instance reads v2',
    async (how) => {
      const schema = defineSchema({ table: items, writeMode: 'write-behind' });
      const queue = createMemoryQueue();
      const writer = instance(schema, queue);
      const id = `inv-${how}`;
      await writer.set(schema, { id, level: 1 });
      await writer.flushDirty();
      await writer.set(schema, { id, level: 2 });
      if (how === 'invalidate') await writer.invalidate(schema, id);
      else await writer.invalidateAll(schema);
      // Before the flush every instance reads v2: the pending row survives both (Postgres has v1).
      expect((await writer.get(schema, id)).level).toBe(2);
      expect((await instance(schema, createMemoryQueue()).get(schema, id)).level).toBe(2);
      await writer.flushDirty();
      expect(await itemLevel(id)).toBe(2);
      expect((await instance(schema, createMemoryQueue()).get(schema, id)).level).toBe(2);
      expect((await writer.get(schema, id)).level).toBe(2);
    },
  );
});

describe('write-behind: a pending row outlives its TTL and hard generation moves orphan it', () => {
  it('is kept in Redis a week, not its TTL, until its flush, and is answered past its TTL by a clock 1 h ahead', async () => {
    const schema = defineSchema({ table: items, writeMode: 'write-behind', l1: false, l2: { ttl: '1s' } });
    const writer = instance(schema, createMemoryQueue());
    await writer.set(schema, { id: 'pend-ttl', level: 1 });
    await writer.flushDirty();
    await writer.set(schema, { id: 'pend-ttl', level: 2 }); // pending: Postgres has level 1
    const rowKey = (await stack.rawL2Keys()).find((k) => k.endsWith(':pend-ttl'))!;
    // Never stale; Redis keeps it a week (a bound for a write whose queue lost it), not the 1 s TTL.
    expect(await stack.redis.pttl(rowKey)).toBeGreaterThan(6 * 24 * 3_600_000);
    const later = instance(schema, createMemoryQueue(), { now: () => Date.now() + 3_600_000 });
    expect((await later.get(schema, 'pend-ttl')).level).toBe(2);
    expect(later.stats().hits.l2).toBe(1);
    await writer.flushDirty(); // applied: the row takes its TTL again
    expect(await itemLevel('pend-ttl')).toBe(2);
    // Fresh for its 1 s; Redis keeps it as the version floor a read in flight meets (the default
    // timeouts: l3 + 2 × l2 = 12 s, see `SchemaCache.floorMs`), not a week.
    const e = decodeEnvelope((await stack.redis.get(rowKey))!)!;
    expect(e.pending).toBe(false);
    expect(e.expiresAt - Date.now()).toBeLessThanOrEqual(1_100); // stamped on Redis' clock as estimated
    const ttl = await stack.redis.pttl(rowKey);
    expect(ttl).toBeGreaterThan(1_000);
    expect(ttl).toBeLessThanOrEqual(12_000);
  });

  it('a pending delete keeps its tombstone until its flush', async () => {
    const schema = defineSchema({ table: items, writeMode: 'write-behind', l1: false, l2: { ttl: '1s' } });
    const writer = instance(schema, createMemoryQueue());
    await writer.set(schema, { id: 'pend-del', level: 1 });
    await writer.flushDirty();
    await writer.delete(schema, 'pend-del');
    const later = instance(schema, createMemoryQueue(), { now: () => Date.now() + 3_600_000 });
    expect(await later.find(schema, 'pend-del')).toBeNull();
    expect(later.stats().negativeHits).toBe(1);
    expect(later.stats().l3Reads).toBe(0);
  });

  it.each([
    ['once', 'is sent again before its next use: the generation stays'],
    ['lasting', 'moves the generation to a new era when sent again in vain, which does not'],
  ] as const)(
    'invalidateAll keeps a pending row readable; a write L2 missed (%s) %s',
    async (fails, _outcome) => {
      const schema = defineSchema({ table: items, writeMode: 'write-behind', l1: false });
      const writer = instance(schema, createMemoryQueue());
      const generation = async () => {
        const key = (await stack.rawL2Keys()).find((k) => k.endsWith('.items:gen'))!;
        return Number(await stack.redis.get(key));
      };
      const id = `pend-hard-${fails}`;
      await writer.set(schema, { id, level: 1 });
      await writer.flushDirty();
      await writer.set(schema, { id, level: 2 }); // pending
      const before = await generation();
      await writer.invalidateAll(schema);
      expect(await generation()).toBe(before + 1);
      expect((await instance(schema, createMemoryQueue()).get(schema, id)).level).toBe(2);

      // A transaction commits level 3 while its instance cannot reach L2 (the fault hits its cache
      // writes only, PUT and MARK: the missed write is sent again as markers): Postgres is now
      // ahead of the pending row, whose flush then applies nothing.
      let down = false;
      const flaky = wrapL2Run(stack.l2, (script, _keys, run) =>
        down && (script.name === 'put' || script.name === 'mark')
          ? Promise.reject(new Error('connection reset'))
          : run(),
      );
      const txer = new Strata({
        l2: flaky,
        l3: stack.l3,
        keyPrefix: stack.keyPrefix,
        schemas: [schema],
        writeBehind: { queue: createMemoryQueue() },
      });
      down = true;
      await txer.tx().set(schema, { id, level: 3 }).commit();
      if (fails === 'once') down = false;
      await writer.flushDirty();
      expect(await itemLevel(id)).toBe(3);
      const moved = await generation();
      // Its next use of L2 sends the write again first; when that fails too, it moves the generation.
      expect((await txer.get(schema, id)).level).toBe(3);
      down = false;
      if (fails === 'once') expect(await generation()).toBe(moved);
      else expect(await generation()).toBeGreaterThanOrEqual(GENERATION_ERA);
      const fresh = instance(schema, createMemoryQueue());
      expect((await fresh.get(schema, id)).level).toBe(3);
      expect(fresh.stats().hits.l2).toBe(fails === 'once' ? 1 : 0);
      await txer.close();
    },
  );
});

describe('versions are not clocks', () => {
  const ahead: Clock = { now: () => Date.now() + 10_000 };

  it('issue 12 item 9: write-behind, the instance 10 s ahead writes v1, the other v2: v2 everywhere', async () => {
    const schema = defineSchema({ table: items, writeMode: 'write-behind' });
    const queue = createMemoryQueue(); // one queue, one L2, one L3
    const skewed = instance(schema, queue, ahead);
    const normal = instance(schema, queue);
    await skewed.set(schema, { id: 'skew-wb', level: 1 });
    await normal.set(schema, { id: 'skew-wb', level: 2 });
    await skewed.flushDirty(); // the skewed one flushes both: its caches take the row as applied
    expect(await itemLevel('skew-wb')).toBe(2);
    expect((await instance(schema, createMemoryQueue()).get(schema, 'skew-wb')).level).toBe(2);
    expect((await skewed.get(schema, 'skew-wb')).level).toBe(2);
    expect((await normal.get(schema, 'skew-wb')).level).toBe(2);
  });

  it('issue 12 item 9: write-through, the instance 10 s ahead writes v1, the other v2: v2 everywhere', async () => {
    // No L1 (there is no bus here): both instances read what L2 holds.
    const schema = defineSchema({ table: items, l1: false });
    const queue = createMemoryQueue();
    const skewed = instance(schema, queue, ahead);
    const normal = instance(schema, queue);
    await skewed.set(schema, { id: 'skew-wt', level: 1 });
    await normal.set(schema, { id: 'skew-wt', level: 2 });
    expect(await itemLevel('skew-wt')).toBe(2);
    expect((await instance(schema, createMemoryQueue()).get(schema, 'skew-wt')).level).toBe(2);
    expect((await skewed.get(schema, 'skew-wt')).level).toBe(2);
    expect((await normal.get(schema, 'skew-wt')).level).toBe(2);
  });
});

describe('write-behind: a flush applies a key’s writes as if one by one', () => {
  it('a set, a delete, then a set leaving a column out: the column is the default of a new row, not the old value', async () => {
    const schema = defineSchema({
      table: notes,
      name: 'notes_fold',
      writeMode: 'write-behind',
      fields: { createdAt: { autoNowAdd: true } },
    });
    const queue = createMemoryQueue();
    let now = Date.now();
    const strata = instance(schema, queue, { now: () => now });
    // Postgres already holds the row with a nickname (flushed).
    await strata.set(schema, { id: 'fold', title: 't0', nickname: 'old' });
    await strata.flushDirty();
    // Then, all in one flush: a set with a nickname, a delete, and a set without one.
    now += 1_000;
    await strata.set(schema, { id: 'fold', title: 't1', nickname: 'kept?' });
    await strata.delete(schema, 'fold');
    now += 1_000;
    const last = await strata.set(schema, { id: 'fold', title: 't2' });
    await strata.flushDirty();
    const [row] = await stack.db.select().from(notes).where(eq(notes.id, 'fold'));
    expect(row).toMatchObject({ title: 't2', nickname: null, tag: 'xy' });
    // The row the last set created, not the deleted one: its createdAt is the last set's.
    expect(row?.createdAt.getTime()).toBe(last.createdAt.getTime());
    expect(await instance(schema, createMemoryQueue()).get(schema, 'fold')).toEqual(row);
    await strata.close();
  });

  it('a set leaving a column out after a set giving it, in one flush: the column keeps the earlier write’s value', async () => {
    const schema = defineSchema({ table: notes, name: 'notes_fold2', writeMode: 'write-behind' });
    const queue = createMemoryQueue();
    const strata = instance(schema, queue);
    await strata.set(schema, { id: 'fold2', title: 'a', nickname: 'given' });
    await strata.set(schema, { id: 'fold2', title: 'b' });
    await strata.flushDirty();
    const [row] = await stack.db.select().from(notes).where(eq(notes.id, 'fold2'));
    expect(row).toMatchObject({ title: 'b', nickname: 'given' });
    await strata.close();
  });
});

describe('transactions: a delete then a set of one key', () => {
  it('the set makes a new row: a column it leaves out is not the deleted row’s value', async () => {
    const schema = defineSchema({ table: notes, name: 'notes_tx_replace' });
    const strata = instance(schema, createMemoryQueue());
    await strata.set(schema, { id: 'txr', title: 'old', nickname: 'was here' });
    await strata.tx().delete(schema, 'txr').set(schema, { id: 'txr', title: 'new' }).commit();
    const [row] = await stack.db.select().from(notes).where(eq(notes.id, 'txr'));
    expect(row).toMatchObject({ title: 'new', nickname: null });
    expect(await strata.get(schema, 'txr')).toEqual(row);
    expect(await instance(schema, createMemoryQueue()).get(schema, 'txr')).toEqual(row);
    await strata.close();
  });
});

describe('write-behind: a fold another write interrupted', () => {
  it('a transaction deletes the key between two queued sets: the last set makes a new row', async () => {
    const schema = defineSchema({
      table: notes,
      name: 'notes_cut_delete',
      writeMode: 'write-behind',
      fields: { createdAt: { autoNowAdd: true } },
    });
    let now = Date.now();
    const strata = instance(schema, createMemoryQueue(), { now: () => now });
    await strata.set(schema, { id: 'cut1', title: 'a', nickname: 'queued' }); // queued
    now += 1_000;
    await strata.tx().delete(schema, 'cut1').commit(); // in Postgres at once, a newer version
    now += 1_000;
    const last = await strata.set(schema, { id: 'cut1', title: 'b' }); // queued, newest
    await strata.flushDirty();
    const [row] = await stack.db.select().from(notes).where(eq(notes.id, 'cut1'));
    expect(row).toMatchObject({ title: 'b', nickname: null });
    expect(row?.createdAt.getTime()).toBe(last.createdAt.getTime());
    expect(await instance(schema, createMemoryQueue()).get(schema, 'cut1')).toEqual(row);
    expect(await strata.get(schema, 'cut1')).toEqual(row);
    await strata.close();
  });

  it('a transaction sets a column between two queued sets: the last set, leaving it out, keeps it', async () => {
    const schema = defineSchema({ table: notes, name: 'notes_cut_set', writeMode: 'write-behind' });
    const strata = instance(schema, createMemoryQueue());
    await strata.set(schema, { id: 'cut2', title: 'a', nickname: 'queued' }); // queued
    await strata.tx().set(schema, { id: 'cut2', title: 'tx', nickname: 'from tx' }).commit();
    await strata.set(schema, { id: 'cut2', title: 'b' }); // queued, newest, no nickname
    const stats = strata.stats();
    await strata.flushDirty();
    const [row] = await stack.db.select().from(notes).where(eq(notes.id, 'cut2'));
    expect(row).toMatchObject({ title: 'b', nickname: 'from tx' });
    expect(await instance(schema, createMemoryQueue()).get(schema, 'cut2')).toEqual(row);
    expect(strata.stats().deadLettered).toBe(stats.deadLettered);
    await strata.close();
  });
});

describe('flushDirty covers every write acknowledged before the call', () => {
  it('a round already running, which took its batch before the write, is not what flushDirty waits for', async () => {
    const memory = createMemoryQueue();
    // The first take reads the queue (empty), then holds its round open until released.
    let firstTake = true;
    let tookEmpty!: () => void;
    const emptyTaken = new Promise<void>((resolve) => (tookEmpty = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const queue = new Proxy(memory, {
      get(target, prop) {
        // Bound to the queue itself: its methods read private fields, which a proxy does not have.
        const value = Reflect.get(target, prop, target);
        if (prop !== 'take') return typeof value === 'function' ? value.bind(target) : value;
        return async (max: number) => {
          const batch = await target.take(max);
          if (firstTake) {
            firstTake = false;
            tookEmpty();
            await released;
          }
          return batch;
        };
      },
    });
    const schema = defineSchema({ table: items, writeMode: 'write-behind' });
    const strata = instance(schema, queue);
    const earlier = strata.flushDirty(); // a round (as a timer's would) that takes nothing
    await emptyTaken;
    await strata.set(schema, { id: 'drain-1', level: 7 });
    const flushed = strata.flushDirty();
    release();
    await Promise.all([earlier, flushed]);
    // Without its own round, the second call returned with the write still queued.
    expect(await itemLevel('drain-1')).toBe(7);
    expect(await memory.pending()).toBe(0);
    await strata.close();
  });

  it('a round that fails after its take lets go of the batch: the next flushDirty takes it again', async () => {
    const memory = createMemoryQueue();
    let failAck = true;
    const queue = new Proxy(memory, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (prop !== 'ack') return typeof value === 'function' ? value.bind(target) : value;
        return async (handles: readonly string[]) => {
          if (failAck) {
            failAck = false;
            throw new Error('the ack did not reach the queue');
          }
          return target.ack(handles);
        };
      },
    });
    const schema = defineSchema({ table: items, writeMode: 'write-behind' });
    const strata = instance(schema, queue);
    await strata.set(schema, { id: 'release-1', level: 3 });
    await expect(strata.flushDirty()).rejects.toMatchObject({ code: 'QUEUE_UNAVAILABLE' });
    expect(await itemLevel('release-1')).toBe(3); // applied; only its ack failed
    // Still held for the failed round, the write would never be handed out again (this queue has
    // no claim timeout; the Redis Stream queue's is 30 s).
    await strata.flushDirty();
    expect(await memory.pending()).toBe(0);
    await strata.close();
  });
});
