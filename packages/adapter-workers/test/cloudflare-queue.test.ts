/**
 * The producer side, against the real `WB` binding in workerd: a spy wrapper counts the
 * `sendBatch` calls `createCloudflareQueue` makes and passes each on, so the platform itself
 * checks every batch against its limits and the writes then land through the consumer.
 */
import { env } from 'cloudflare:workers';
import { isStrataError } from '@strata/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCloudflareQueue, QUEUE_LIMITS, type QueueProducer } from '../src/cloudflare/index.js';
import { planBatches } from '../src/cloudflare/send-batches.js';
import { type WbTestTable, waitFor, wbTestTable } from './support/write-behind.js';

let t: WbTestTable;

beforeAll(async () => {
  t = await wbTestTable('wb_producer');
});
afterAll(() => t?.cleanup());

/** The real binding, with each `sendBatch` call's message count and JSON bytes written down. */
function spyOn(binding: Queue<unknown>) {
  const calls: { messages: number; bytes: number }[] = [];
  const spy: QueueProducer = {
    async sendBatch(messages, options) {
      const list = [...messages];
      const bytes = list.reduce(
        (n, m) =>
          n + new TextEncoder().encode(JSON.stringify(m.body)).byteLength + QUEUE_LIMITS.metadataBytes,
        0,
      );
      calls.push({ messages: list.length, bytes });
      return binding.sendBatch(list, options);
    },
    metrics: () => binding.metrics(),
  };
  return { spy, calls };
}

describe('createCloudflareQueue', () => {
  it('splits 250 writes into 3 sendBatch calls (100 messages each at most), and all land', async () => {
    const { spy, calls } = spyOn(env.WB);
    const rows = Array.from({ length: 250 }, (_, i) => ({ id: `f${i}`, name: `f${i}`, level: i }));
    await t.producer(spy).setMany(t.schema, rows);

    expect(calls.map((c) => c.messages)).toEqual([100, 100, 50]);
    await waitFor('250 rows in Postgres', async () => (await t.count('f')) === 250);
  });

  it('splits by bytes too: no batch over 256 KB, and the platform takes each', async () => {
    const { spy, calls } = spyOn(env.WB);
    const note = 'x'.repeat(60_000);
    const rows = Array.from({ length: 10 }, (_, i) => ({ id: `g${i}`, name: `g${i}`, note }));
    await t.producer(spy).setMany(t.schema, rows);

    expect(calls.map((c) => c.messages)).toEqual([4, 4, 2]);
    for (const call of calls) expect(call.bytes).toBeLessThanOrEqual(QUEUE_LIMITS.batchBytes);
    await waitFor('10 big rows in Postgres', async () => (await t.count('g')) === 10);
    expect((await t.row('g9'))?.note).toHaveLength(60_000);
  });

  it('refuses a write over 128 KB before sending anything; the set fails and leaves no trace', async () => {
    const { spy, calls } = spyOn(env.WB);
    const writer = t.producer(spy);
    const error = await writer
      .set(t.schema, { id: 'h1', name: 'big', note: 'x'.repeat(130_000) })
      .catch((e) => e);

    // The queue's own verdict on the write (too big for a message) reaches the caller as it is.
    expect(isStrataError(error) && error.code).toBe('VALIDATION_FAILED');
    expect(calls).toEqual([]);
    // The cached copies were withdrawn: nobody reads a write the queue never took.
    expect(await t.producer().find(t.schema, 'h1')).toBeNull();
  });

  it('plans batches by count and bytes, in order', () => {
    const small = Array.from({ length: 250 }, (_, i) => ({ i }));
    expect(planBatches(small, 'test').map((b) => b.length)).toEqual([100, 100, 50]);
    expect(planBatches(small, 'test').flat()).toEqual(small);
    const big = Array.from({ length: 5 }, () => 'y'.repeat(100_000));
    expect(planBatches(big, 'test').map((b) => b.length)).toEqual([2, 2, 1]);
    expect(planBatches([], 'test')).toEqual([]);
  });

  it('leaves ack, retry and deadLetter to the consumer: they reject with INVALID_CONFIG', async () => {
    const queue = createCloudflareQueue(env.WB, { name: 'wb' });
    expect(queue.take).toBeUndefined();
    for (const call of [
      () => queue.ack(['1']),
      () => queue.retry(['1']),
      () => queue.deadLetter([{ handle: '1', write: t.write('z', 1), attempts: 0 }], 'why'),
    ]) {
      await expect(call()).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: /queue\(\) handler/ });
    }
  });

  it('pending() is the platform backlog; after close() every call but close rejects', async () => {
    const queue = createCloudflareQueue(env.WB);
    expect(await queue.pending()).toBeGreaterThanOrEqual(0);
    const { metrics: _, ...withoutMetrics } = spyOn(env.WB).spy;
    expect(await createCloudflareQueue(withoutMetrics).pending()).toBe(0);

    await queue.close();
    await queue.close();
    await expect(queue.enqueue([t.write('z', 1)])).rejects.toMatchObject({ code: 'QUEUE_UNAVAILABLE' });
    await expect(queue.pending()).rejects.toMatchObject({ code: 'QUEUE_UNAVAILABLE' });
  });

  it('checks every write before sending any', async () => {
    const { spy, calls } = spyOn(env.WB);
    const bad = { schema: t.table, id: 'z', op: 'set', version: 1 } as never;
    await expect(createCloudflareQueue(spy).enqueue([t.write('z', 1), bad])).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    expect(calls).toEqual([]);
  });
});
