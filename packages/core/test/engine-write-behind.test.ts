import { freePort } from '@strata/devstack';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { QueuedWrite } from '../src/driver.js';
import { defineSchema, isStrataError, Q, Strata, type WriteQueue } from '../src/index.js';
import { createMemoryQueue } from '../src/queue/memory-queue.js';
import { createUpstashL2 } from '../src/upstash/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

let stack: EngineStack;
let schema: ReturnType<typeof behindSchema>;
const errors: [string, unknown][] = [];
const behindSchema = () =>
  defineSchema({
    table: stack.tables.players,
    writeMode: 'write-behind',
    hooks: { onWriteError: (id, err) => void errors.push([id, err]) },
  });

beforeAll(async () => {
  stack = await engineStack('write_behind');
  schema = behindSchema();
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
});
afterAll(() => stack?.cleanup());

function strataWith(queue: WriteQueue, extra: Partial<ConstructorParameters<typeof Strata>[0]> = {}) {
  return new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    schemas: [schema],
    ...extra,
    writeBehind: { queue, ...extra.writeBehind },
  });
}

async function inPostgres(id: string) {
  const [row] = await stack.db.select().from(stack.tables.players).where(eq(stack.tables.players.id, id));
  return row;
}

describe('write-behind', () => {
  it('acknowledges after L1, L2 and the queue; every instance reads it before the flush; flushDirty lands it', async () => {
    const queue = createMemoryQueue();
    const strata = strataWith(queue);
    const stored = await strata.set(schema, { id: 'wb1', username: 'behind', level: 3 });
    expect(stored.createdAt).toBeInstanceOf(Date); // client-side defaultNow()
    expect(await inPostgres('wb1')).toBeUndefined();
    expect(strata.stats().dirtyCount).toBe(1);
    const other = strataWith(createMemoryQueue());
    expect((await other.get(schema, 'wb1')).level).toBe(3);
    expect(other.stats().hits.l2).toBe(1);
    await strata.flushDirty();
    expect((await inPostgres('wb1'))?.level).toBe(3);
    expect(strata.stats()).toMatchObject({ dirtyCount: 0, flushed: 1 });
  });

  it('a list cached by searchCached between a write and its flush holds the write, and is not served after the flush', async () => {
    const queue = createMemoryQueue();
    const strata = strataWith(queue);
    const query = Q().where('username = $1', 'listed').build();
    await strata.set(schema, { id: 'listed', username: 'listed', level: 7 });
    // Before the flush L3 has no such row: the search lays the queued write over it (see
    // search-pending.test.ts), and the list gets cached.
    expect((await strata.searchCached(schema, query)).map((r) => r.level)).toEqual([7]);
    await strata.set(schema, { id: 'listed', username: 'listed', level: 8 });
    await strata.flushDirty();
    expect((await strata.searchCached(schema, query)).map((r) => r.level)).toEqual([8]);
  });

  it('coalesces a key written 100 times into one row write; deletes flush too', async () => {
    const queue = createMemoryQueue();
    const strata = strataWith(queue);
    for (let i = 1; i <= 100; i++) await strata.set(schema, { id: 'hot', username: 'hot', level: i });
    await strata.set(schema, { id: 'gone', username: 'gone' });
    await strata.delete(schema, 'gone');
    stack.reset();
    await strata.flushDirty();
    expect((await inPostgres('hot'))?.level).toBe(100);
    expect(await inPostgres('gone')).toBeUndefined();
    // One versioned apply for the batch: a bounded number of statements, not one per write.
    expect(stack.statements.length).toBeLessThan(10);
    expect(await strata.find(schema, 'gone')).toBeNull();
  });

  it('an older write replayed after a newer one changes nothing; a duplicate delivery is harmless', async () => {
    const queue = createMemoryQueue();
    const strata = strataWith(queue);
    await strata.set(schema, { id: 'ord', username: 'ord', level: 1 });
    await strata.set(schema, { id: 'ord', username: 'ord', level: 2 });
    // Take both writes off the queue without applying them, to deliver them in an order of our choosing.
    const taken = await queue.take!(10);
    await queue.ack(taken.map((d) => d.handle));
    const [first, second] = taken.map((d) => d.write);
    // Deliver the newer one, then the older one, then the newer one again.
    for (const write of [second!, first!, second!]) {
      await queue.enqueue([write as QueuedWrite]);
      await strata.flushDirty();
    }
    expect((await inPostgres('ord'))?.level).toBe(2);
  });

  it('a poison write is dead-lettered after the retries, calls onWriteError, and never blocks its batch', async () => {
    const queue = createMemoryQueue();
    const strata = strataWith(queue, { writeBehind: { maxRetry: 3 } });
    await strata.set(schema, { id: 'ok1', username: 'ok1' });
    // A write that passed validation elsewhere but Postgres rejects (NOT NULL username).
    await queue.enqueue([
      {
        schema: schema.identity,
        id: 'bad',
        op: 'set',
        version: 2 ** 50,
        row: '{"id":"bad","username":null}',
      },
    ]);
    await strata.set(schema, { id: 'ok2', username: 'ok2' });
    for (let i = 0; i < 3; i++) await strata.flushDirty().catch(() => {});
    expect((await inPostgres('ok1'))?.username).toBe('ok1');
    expect((await inPostgres('ok2'))?.username).toBe('ok2');
    expect(await inPostgres('bad')).toBeUndefined();
    expect(errors.map(([id]) => id)).toContain('bad');
    const [, gaveUp] = errors.find(([id]) => id === 'bad')!;
    expect(isStrataError(gaveUp, 'WRITE_BEHIND_MAX_RETRY')).toBe(true);
    expect((gaveUp as Error).cause).toMatchObject({ code: '23502' });
    expect(strata.stats().deadLettered).toBe(1);
    expect(queue.deadLetters().map((d) => d.write.id)).toEqual(['bad']);
  });

  it('flushes by itself at the threshold, and close() flushes the rest', async () => {
    const queue = createMemoryQueue();
    const strata = strataWith(queue, { writeBehind: { threshold: 5 } });
    for (let i = 0; i < 5; i++) await strata.set(schema, { id: `th${i}`, username: `th${i}` });
    await vi.waitFor(async () => expect(await inPostgres('th4')).toBeDefined(), { timeout: 5_000 });
    await strata.set(schema, { id: 'last', username: 'last' });
    await strata.close();
    expect(await inPostgres('last')).toBeDefined();
  });

  it('refuses (L2_UNAVAILABLE) while L2 is down, and (QUEUE_UNAVAILABLE) when the queue is', async () => {
    const closed = await freePort();
    const deadL2 = createUpstashL2({ url: `http://127.0.0.1:${closed}`, token: 't' });
    const strata = new Strata({
      l2: deadL2,
      l3: stack.l3,
      keyPrefix: stack.keyPrefix, // the file's app: the table is its own (no other app's claim refuses first)
      writeBehind: { queue: createMemoryQueue() },
      schemas: [schema],
    });
    // Nothing can order the write against those already queued: nothing is acknowledged, nothing written.
    const down = await strata.set(schema, { id: 'no-l2', username: 'no-l2' }).catch((e: unknown) => e);
    expect(isStrataError(down, 'L2_UNAVAILABLE')).toBe(true);
    expect(await inPostgres('no-l2')).toBeUndefined();

    const real = createMemoryQueue();
    const broken: WriteQueue = {
      name: 'broken',
      enqueue: () => Promise.reject(new Error('full')),
      take: (max) => real.take!(max),
      flushLoop: real.flushLoop,
      ack: (h) => real.ack(h),
      retry: (h) => real.retry(h),
      deadLetter: (d, r) => real.deadLetter(d, r),
      pending: () => real.pending(),
      close: () => real.close(),
    };
    const refusing = strataWith(broken);
    const err = await refusing.set(schema, { id: 'refused', username: 'refused' }).catch((e: unknown) => e);
    expect(isStrataError(err, 'QUEUE_UNAVAILABLE')).toBe(true);
    // Nothing claims the write happened: no cache holds it.
    expect(await strataWith(createMemoryQueue()).find(schema, 'refused')).toBeNull();
    expect(await refusing.find(schema, 'refused')).toBeNull();
  });

  it('refuses (INVALID_CONFIG) a pull queue that does not bring the loop that drives it, nothing opened', () => {
    const real = createMemoryQueue();
    const loopless: WriteQueue = {
      name: 'loopless',
      enqueue: (w) => real.enqueue(w),
      take: (max) => real.take(max),
      ack: (h) => real.ack(h),
      retry: (h) => real.retry(h),
      deadLetter: (d, r) => real.deadLetter(d, r),
      pending: () => real.pending(),
      close: () => real.close(),
    };
    // Nothing else would ever flush what it takes: refused rather than writes left queued for good.
    expect(() => strataWith(loopless)).toThrow(/has take \(a pull queue\) but no flushLoop/);
    const err = (() => {
      try {
        strataWith(loopless);
      } catch (e) {
        return e;
      }
    })();
    expect(isStrataError(err, 'INVALID_CONFIG')).toBe(true);
    expect((err as { details?: unknown }).details).toStrictEqual({ field: 'writeBehind.queue' });
    // With the loop it is the memory queue's: accepted.
    expect(() => strataWith({ ...loopless, flushLoop: real.flushLoop })).not.toThrow();
  });

  it('with a push queue (no take) dirtyCount stays 0 and queueDepth() is the queue’s own backlog', async () => {
    const real = createMemoryQueue();
    const push: WriteQueue = {
      name: 'push',
      enqueue: (w) => real.enqueue(w),
      ack: (h) => real.ack(h),
      retry: (h) => real.retry(h),
      deadLetter: (d, r) => real.deadLetter(d, r),
      pending: () => real.pending(),
      close: () => real.close(),
    };
    const producer = strataWith(push);
    await producer.setMany(schema, [
      { id: 'push1', username: 'push1' },
      { id: 'push2', username: 'push2' },
    ]);
    expect(producer.stats().dirtyCount).toBe(0);
    expect(await producer.queueDepth()).toBe(2);
    // Another invocation consumes them (as a Worker's queue() does) and the backlog drains.
    const outcome = await producer.flushBatch(await real.take!(10));
    await real.ack(outcome.acked);
    expect(await producer.queueDepth()).toBe(0);
    expect(await inPostgres('push2')).toBeDefined();
  });
});
