/**
 * The write-behind consumer is another isolate than the producer: its L1 starts cold, and the
 * platform delivers at least once and out of order. Here the producer's messages are captured (a
 * producer binding that keeps the bodies, JSON-copied as the platform does) and handed to a cold
 * consumer Strata with `handleWriteBatch` in the order a test picks, with the flush running for
 * real against the devstack; then the producer, the consumer and a third cold isolate read.
 */
import type { Strata } from '@strata/core';
import { isStrataError } from '@strata/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverBatch, keptQueue } from './support/kept-queue.js';
import { type ItemRow, type WbTestTable, wbTestTable } from './support/write-behind.js';

let t: WbTestTable;

beforeAll(async () => {
  t = await wbTestTable('wb_isolates');
});
afterAll(() => t?.cleanup());

/** What the producer, the consumer, a cold isolate and Postgres hold for `id`. */
async function everywhere(producer: Strata, consumer: Strata, id: string) {
  return [
    await producer.find(t.schema, id),
    await consumer.find(t.schema, id),
    await t.producer().find(t.schema, id),
    (await t.row(id)) ?? null,
  ];
}

const item = (id: string, name: string, level: number): ItemRow => ({ id, name, level, note: null });

describe('a cold consumer isolate and the producer on one key', () => {
  it('flushes v1 while the producer has written v2: every isolate reads v2, Postgres follows', async () => {
    const { bodies, producer } = keptQueue();
    const writer = t.producer(producer);
    await writer.set(t.schema, { id: 'a', name: 'v1', level: 1 });
    await writer.set(t.schema, { id: 'a', name: 'v2', level: 2 });
    const consumer = t.producer();

    expect(await deliverBatch(consumer, [bodies[0]])).toEqual({ acked: 1, retried: 0 });
    // Postgres has v1 now, but no cache may go back to it: v2 is queued and newer.
    expect(await everywhere(writer, consumer, 'a')).toEqual([
      item('a', 'v2', 2),
      item('a', 'v2', 2),
      item('a', 'v2', 2),
      item('a', 'v1', 1),
    ]);
    expect(await deliverBatch(consumer, [bodies[1]])).toEqual({ acked: 1, retried: 0 });
    expect(await deliverBatch(consumer, [bodies[0]], 2)).toEqual({ acked: 1, retried: 0 }); // v1 redelivered
    expect(await everywhere(writer, consumer, 'a')).toEqual(Array(4).fill(item('a', 'v2', 2)));
  });

  it('takes v2 then v1 in two batches after reading v2: v1 changes no tier', async () => {
    const { bodies, producer } = keptQueue();
    const writer = t.producer(producer);
    await writer.set(t.schema, { id: 'b', name: 'v1', level: 1 });
    await writer.set(t.schema, { id: 'b', name: 'v2', level: 2 });
    const consumer = t.producer();
    expect(await consumer.find(t.schema, 'b')).toEqual(item('b', 'v2', 2)); // from L2, into its L1

    expect(await deliverBatch(consumer, [bodies[1]])).toEqual({ acked: 1, retried: 0 });
    expect(await deliverBatch(consumer, [bodies[0]])).toEqual({ acked: 1, retried: 0 });
    expect(await everywhere(writer, consumer, 'b')).toEqual(Array(4).fill(item('b', 'v2', 2)));
    expect(await t.version('b')).toBe((bodies[1] as { version: number }).version);
  });

  it('takes a set and the delete after it in one batch, delete first: the row stays gone', async () => {
    const { bodies, producer } = keptQueue();
    const writer = t.producer(producer);
    await writer.set(t.schema, { id: 'c', name: 'v1', level: 1 });
    await writer.delete(t.schema, 'c');
    const consumer = t.producer();
    expect(await consumer.find(t.schema, 'c')).toBeNull();

    expect(await deliverBatch(consumer, [bodies[1], bodies[0]])).toEqual({ acked: 2, retried: 0 });
    expect(await everywhere(writer, consumer, 'c')).toEqual([null, null, null, null]);
  });
});

describe('write-behind input Postgres cannot store', () => {
  it('refuses a NUL in a text column at set: nothing in L2, nothing queued', async () => {
    const { bodies, producer } = keptQueue();
    const writer = t.producer(producer);
    const refused = await writer.set(t.schema, { id: 'z', name: 'a\u0000b', level: 1 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    // Before: acknowledged and queued, every isolate read it from L2 until the flush dead-lettered it
    // as "rejected by Postgres (22021)".
    expect(isStrataError(refused, 'VALIDATION_FAILED') && refused.details).toEqual({
      schema: t.table,
      field: 'name',
    });
    expect(bodies).toEqual([]);
    expect(await t.producer().find(t.schema, 'z')).toBeNull();
    expect(await writer.find(t.schema, 'z')).toBeNull();
  });
});
