/**
 * Cloudflare Queues for real, inside workerd: `env.WRITES` (the producer binding) sends to the
 * queue that fixtures/queue-worker.ts consumes, Miniflare's broker batches, retries and
 * dead-letters as configured in wrangler.toml, and the consumer records each delivery in the
 * devstack's Redis so the test can read back what `queue()` received.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { uniqueName } from '@strata/devstack/testing';
import { afterAll, describe, expect, it, vi } from 'vitest';
import worker, {
  DEAD_LETTER_QUEUE,
  type Delivery,
  deliveriesKey,
  type QueueJob,
  upstashOf,
  WRITES_QUEUE,
} from './fixtures/queue-worker.js';
import { upstashCommand } from './support/upstash-rest.js';

const runs: string[] = [];

function newRun(label: string): string {
  const run = uniqueName(label);
  runs.push(run);
  return run;
}

async function deliveries(run: string): Promise<Delivery[]> {
  const items = (await upstashCommand(upstashOf(env), ['LRANGE', deliveriesKey(run), 0, -1])) as string[];
  return items.map((item) => JSON.parse(item) as Delivery);
}

/** Polls Redis until `done` holds for the run's deliveries (bounded: fails after `timeout` ms). */
async function waitForDeliveries(
  run: string,
  done: (seen: Delivery[]) => boolean,
  timeout = 10_000,
): Promise<Delivery[]> {
  let last: Delivery[] = [];
  try {
    return await vi.waitUntil(
      async () => {
        last = await deliveries(run);
        return done(last) ? last : false;
      },
      { timeout, interval: 25 },
    );
  } catch (err) {
    throw new Error(`deliveries of ${run} after ${timeout} ms: ${JSON.stringify(last)}`, { cause: err });
  }
}

afterAll(async () => {
  if (runs.length > 0) await upstashCommand(upstashOf(env), ['DEL', ...runs.map(deliveriesKey)]);
});

describe('Queue producer -> consumer in workerd', () => {
  it('delivers messages from send() and sendBatch() to queue() in batches', async () => {
    const run = newRun('queue_batches');
    const job = (n: number): QueueJob => ({ run, n, mode: 'ack' });
    await env.WRITES.sendBatch([1, 2, 3, 4].map((n) => ({ body: job(n) })));
    await env.WRITES.send(job(5));

    const seen = await waitForDeliveries(run, (d) => d.length >= 5);
    expect(seen.map((d) => d.n).sort()).toEqual([1, 2, 3, 4, 5]);
    for (const d of seen) {
      expect(d).toMatchObject({ queue: WRITES_QUEUE, attempts: 1 });
      expect(d.id).toMatch(/\S/);
    }
    // Batched: at least one queue() call carried several of these messages at once.
    const perBatch = new Map<string, Delivery[]>();
    for (const d of seen) perBatch.set(d.batch, [...(perBatch.get(d.batch) ?? []), d]);
    expect(Math.max(...[...perBatch.values()].map((b) => b.length))).toBeGreaterThan(1);
    for (const batch of perBatch.values()) expect(batch[0]!.batchSize).toBeGreaterThanOrEqual(batch.length);
  });

  it('redelivers a retried message with attempts incremented, and not its acked neighbour', async () => {
    const run = newRun('queue_retry');
    await env.WRITES.sendBatch([
      { body: { run, n: 1, mode: 'retry-once' } satisfies QueueJob },
      { body: { run, n: 2, mode: 'ack' } satisfies QueueJob },
    ]);

    const seen = await waitForDeliveries(run, (d) => d.filter((x) => x.n === 1).length >= 2);
    const retried = seen.filter((d) => d.n === 1);
    expect(retried.map((d) => d.attempts)).toEqual([1, 2]);
    expect(new Set(retried.map((d) => d.id)).size).toBe(1); // the same message, delivered again
    expect(new Set(retried.map((d) => d.batch)).size).toBe(2); // in a later batch
    // Its neighbour was acked in the first batch: it came once, before the redelivery.
    expect(seen.filter((d) => d.n === 2).map((d) => d.attempts)).toEqual([1]);
    expect(seen.every((d) => d.queue === WRITES_QUEUE)).toBe(true);
  });

  it('moves a message to the dead-letter queue after max_retries and its consumer gets it', async () => {
    const run = newRun('queue_dlq');
    await env.WRITES.send({ run, n: 1, mode: 'retry-always' });

    const seen = await waitForDeliveries(run, (d) => d.some((x) => x.queue === DEAD_LETTER_QUEUE));
    // max_retries = 2 in wrangler.toml: 1 delivery + 2 retries on the queue, then the dead-letter queue.
    const onQueue = seen.filter((d) => d.queue === WRITES_QUEUE);
    expect(onQueue.map((d) => d.attempts)).toEqual([1, 2, 3]);
    const dead = seen.filter((d) => d.queue === DEAD_LETTER_QUEUE);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ run, n: 1, mode: 'retry-always', attempts: 1 });
  });
});

describe('queue() driven directly with the pool helpers', () => {
  it('reports which messages queue() acked and which it retried', async () => {
    const run = newRun('queue_unit');
    const batch = createMessageBatch<unknown>(WRITES_QUEUE, [
      { id: 'm1', timestamp: new Date(), attempts: 1, body: { run, n: 1, mode: 'ack' } satisfies QueueJob },
      { id: 'm2', timestamp: new Date(), attempts: 1, body: { run, n: 2, mode: 'retry-once' } },
      { id: 'm3', timestamp: new Date(), attempts: 2, body: { run, n: 3, mode: 'retry-once' } },
      { id: 'm4', timestamp: new Date(), attempts: 1, body: 'not a job' },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);

    expect(result.outcome).toBe('ok');
    expect(result.retryBatch.retry).toBe(false);
    expect(result.explicitAcks.sort()).toEqual(['m1', 'm3', 'm4']);
    expect(result.retryMessages.map((m) => m.msgId)).toEqual(['m2']);
    expect((await deliveries(run)).map((d) => d.n)).toEqual([1, 2, 3]); // the poison message is not recorded
  });
});
