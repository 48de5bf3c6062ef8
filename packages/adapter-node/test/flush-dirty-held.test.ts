import { defineSchema, type Scheduler, Strata, type WriteQueue } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { drivenScheduler, steadyWriter, takesAfterEachWrite } from '@strata/core/testing';
import { inArray } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { createIoredisL2 } from '../src/redis-tcp/l2.js';
import { createRedisStreamQueue, type RedisStreamQueue } from '../src/redis-tcp/queue.js';
import { scratch } from './support/scratch.js';

// flushDirty() means "every write-behind write of this app acknowledged before the call is in
// Postgres", also when another instance sharing the stream took some of them and has not applied
// them yet (CI once saw 17 of 200 still queued right after flushDirty on a Cluster). Real Redis
// Stream, real Postgres; "another instance" is a second consumer of the same group.

const store = scratch('flush_held');
const { name, redisUrl, db } = store;
const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
const items = defineSchema({ table, writeMode: 'write-behind' });
const keyPrefix = name;
const stream = `${name}:writes`;
const queueOf = (consumer: string, claimIdleMs = 30_000): RedisStreamQueue =>
  createRedisStreamQueue({ url: redisUrl, keyPrefix, stream, consumer, claimIdleMs, allowVolatile: true });
const queues: RedisStreamQueue[] = [];
const opened: Strata[] = [];
const open = (
  claimIdleMs?: number,
  wrap = (queue: WriteQueue): WriteQueue => queue,
  scheduler?: Scheduler,
) => {
  const queue = queueOf(`a-${opened.length}`, claimIdleMs);
  // Spied before Strata wraps its methods (with the queue's deadline).
  const asked = vi.spyOn(queue, 'heldUpTo');
  const strata = new Strata({
    l2: createIoredisL2(redisUrl),
    l3: createDrizzleL3(db, { migrationsSchema: name }),
    writeBehind: { queue: wrap(queue), threshold: 1_000_000 },
    keyPrefix,
    schemas: [items],
    scheduler,
  });
  opened.push(strata);
  return { strata, queue, asked };
};
const other = (claimIdleMs?: number) => {
  const queue = queueOf(`other-${queues.length}`, claimIdleMs);
  queues.push(queue);
  return queue;
};
const inPostgres = async () => (await db.select().from(table)).map((row) => row.id).sort();

beforeAll(async () => {
  await open().strata.migrate();
});

afterAll(async () => {
  for (const strata of opened) await strata.close();
  for (const queue of queues) await queue.close();
  await store.cleanup();
});

it('waits for writes another consumer took before the call, and flushes them once it lets go', async () => {
  const { strata, asked } = open();
  const ids = ['h1', 'h2', 'h3', 'h4', 'h5'];
  for (const [i, id] of ids.entries()) await strata.set(items, { id, n: i });
  const peer = other();
  const taken = await peer.take(3); // another instance mid-flush holds three of them
  expect(taken).toHaveLength(3);
  let flushed = false;
  const flushing = strata.flushDirty().then(() => {
    flushed = true;
  });
  // It flushed the two it could take, then keeps asking about the three the peer holds.
  await vi.waitFor(() => expect(asked.mock.calls.length).toBeGreaterThanOrEqual(3), { timeout: 5_000 });
  expect(flushed).toBe(false);
  expect(await inPostgres()).toEqual(ids.filter((id) => !taken.some((d) => d.write.id === id)));
  await peer.retry(taken.map((d) => d.handle)); // the peer gives up on them: this instance takes them
  await flushing;
  expect(await inPostgres()).toEqual(ids);
  expect(await strata.queueDepth()).toBe(0);
});

it("polls another consumer's writes on the host's scheduler: a 25 ms wait between two asks", async () => {
  const driven = drivenScheduler();
  const { strata, asked } = open(undefined, undefined, driven.scheduler);
  await strata.set(items, { id: 'p1', n: 1 });
  const peer = other();
  const taken = await peer.take(10);
  expect(taken.map((d) => d.write.id)).toEqual(['p1']);
  const flushing = strata.flushDirty();
  const first = await driven.next();
  expect(first.ms).toBe(25);
  // Asked once, then waiting on the scheduler: no second ask until the wait is over.
  expect(asked).toHaveBeenCalledTimes(1);
  first.task();
  const second = await driven.next();
  expect(asked).toHaveBeenCalledTimes(2);
  await peer.retry(taken.map((d) => d.handle)); // the peer lets go: the next round takes p1
  second.task();
  await flushing;
  expect(await inPostgres()).toContain('p1');
  expect(driven.waits).toEqual([]);
});

it('takes over writes a dead consumer held once they are idle past the claim timeout', async () => {
  const { strata } = open(300);
  for (const id of ['d1', 'd2']) await strata.set(items, { id, n: 1 });
  expect(await other().take(10)).toHaveLength(2); // then it dies: never acks
  await strata.flushDirty();
  expect(await inPostgres()).toEqual(expect.arrayContaining(['d1', 'd2']));
  expect(await strata.queueDepth()).toBe(0);
});

it("does not wait for another app's writes another consumer holds; a position leaves out later writes", async () => {
  const { strata, queue } = open();
  const peer = other();
  await peer.enqueue([{ schema: `${name}.elsewhere`, id: 'x', op: 'set', row: '{"id":"x"}', version: 1 }]);
  expect(await peer.take(10)).toHaveLength(1); // another app's write, held by its flusher for good
  await strata.set(items, { id: 'e1', n: 1 });
  const position = await queue.position!();
  await strata.set(items, { id: 'e2', n: 1 });
  const later = await peer.take(10);
  expect(later.map((d) => d.write.id)).toEqual(['e1', 'e2']);
  // Held by the peer: x and e1 were enqueued up to the position, e2 after it.
  expect((await queue.heldUpTo!(position, 10)).map((write) => write.id)).toEqual(['x', 'e1']);
  expect(await queue.heldUpTo!(position, 1)).toHaveLength(1);
  await expect(queue.heldUpTo!('nope', 10)).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
  await peer.retry(later.map((d) => d.handle));
  await strata.flushDirty(); // x stays with its app; e1 and e2 land here
  expect(await inPostgres()).toEqual(expect.arrayContaining(['e1', 'e2']));
  expect(await strata.queueDepth()).toBe(1);
});

it('a close() while flushDirty waits for another consumer ends the wait: neither rejects; the holder applies its writes', async () => {
  const { strata, asked } = open();
  await strata.set(items, { id: 'c1', n: 1 });
  const peer = other();
  const taken = await peer.take(10);
  expect(taken.map((d) => d.write.id)).toEqual(['c1']);
  const flushing = strata.flushDirty();
  await vi.waitFor(() => expect(asked.mock.calls.length).toBeGreaterThanOrEqual(2), { timeout: 5_000 });
  await Promise.all([strata.close(), flushing]);
  expect(await inPostgres()).not.toContain('c1'); // still the peer's to apply
  await peer.retry(taken.map((d) => d.handle));
  const next = open();
  await next.strata.flushDirty();
  expect(await inPostgres()).toContain('c1');
});

it('returns once the writes acknowledged before the call are in Postgres, while another instance keeps writing', async () => {
  const writer = open().strata;
  const writing = steadyWriter((id) => writer.set(items, { id, n: 1 }), { prefix: 'steady' });
  // Every round of this instance finds a write newer than the last: the writer never lets up.
  const { strata, queue } = open(undefined, (queue) => takesAfterEachWrite(queue, writing));
  const left = await queue.pending(); // another app's write an earlier test left for its app
  await writing.started;
  for (const id of ['s1', 's2', 's3']) await strata.set(items, { id, n: 2 });
  const before = ['s1', 's2', 's3', ...writing.acked];
  const first = await Promise.race([
    strata.flushDirty().then(() => 'flushDirty' as const),
    writing.done.then(() => 'writer stopped' as const),
  ]);
  // Without the bound every round takes something of the app: flushDirty runs until the writer stops.
  expect(first).toBe('flushDirty');
  const rows = await db.select({ id: table.id }).from(table).where(inArray(table.id, before));
  expect(rows.map((row) => row.id).sort()).toEqual([...before].sort());
  writing.stop();
  await writing.done;
  // What came after the call is left to later rounds, which still apply it.
  await strata.flushDirty();
  expect(await queue.pending()).toBe(left);
});
