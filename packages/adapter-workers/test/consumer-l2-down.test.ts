/**
 * The write-behind consumer isolate with Upstash unreachable (a loopback port nothing listens on:
 * the connection is refused, as when the REST endpoint drops it) while Postgres answers. Postgres
 * is the truth and the flush goes on; what a flush could not tell L2 must not outlive the message.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { neon } from '@neondatabase/serverless';
import type { Strata } from '@strata/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleWriteBatch, type QueueProducer } from '../src/cloudflare/index.js';
import { WB_QUEUE, wbStrata } from './fixtures/wb-app.js';
import { type WbTestTable, wbTestTable } from './support/write-behind.js';

let t: WbTestTable;
const closed: Strata[] = [];

beforeAll(async () => {
  t = await wbTestTable('wb_l2down');
  // A row every check passes but Postgres refuses at the flush (23514): a phantom once cached.
  await neon(env.DATABASE_URL).query(
    `alter table "${t.table}" add constraint level_below_100 check (level < 100)`,
  );
});
afterAll(async () => {
  for (const strata of closed) await strata.close();
  await t?.cleanup();
});

/** A binding that keeps what it is sent (the producer's messages, or the dead letters). */
function keeping() {
  const bodies: unknown[] = [];
  const producer: QueueProducer = {
    async sendBatch(messages) {
      for (const m of messages) bodies.push(JSON.parse(JSON.stringify(m.body)));
    },
  };
  return { bodies, producer };
}

let sent = 0;

async function deliver(
  consumer: Strata,
  bodies: readonly unknown[],
  attempts: number,
  deadLetter?: QueueProducer,
) {
  const batch = createMessageBatch<unknown>(
    WB_QUEUE,
    bodies.map((body) => ({ id: `m${++sent}`, attempts, body, timestamp: new Date() })),
  );
  await handleWriteBatch(consumer, batch, deadLetter ? { deadLetter } : {});
  const result = await getQueueResult(batch, createExecutionContext());
  return { acked: result.explicitAcks.length, retried: result.retryMessages.length };
}

/** The consumer isolate, its Upstash endpoint refusing connections. */
function consumerWithoutL2(): Strata {
  const strata = wbStrata(
    { ...env, UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:1' },
    { keyPrefix: t.keyPrefix, schemas: [t.schema] },
  );
  closed.push(strata);
  return strata;
}

describe('the consumer with L2 unreachable', () => {
  it('lands a good write in Postgres and acks it; a transient failure of L2 loses no write', async () => {
    const { bodies, producer } = keeping();
    await t.producer(producer).set(t.schema, { id: 'g1', name: 'good', level: 5 });
    expect(await deliver(consumerWithoutL2(), bodies, 1)).toEqual({ acked: 1, retried: 0 });
    expect(await t.row('g1')).toEqual({ id: 'g1', name: 'good', level: 5, note: null });
    expect(await t.producer().find(t.schema, 'g1')).toEqual({ id: 'g1', name: 'good', level: 5, note: null });
  });

  // DEFECT (core, engine/flusher.ts `failed()`): a write dead-lettered while the consumer's L2 is
  // down has its cached copy withdrawn by `cache.drop`, which tolerates the L2 failure and leaves
  // the repair to the consumer's next use of L2 (an in-memory obligation of this isolate); the
  // message is settled (dead letter sent, acked) all the same. A Worker's consumer isolate may see
  // no further batch (or be evicted), so the row Postgres refused stays in L2 for its TTL and
  // every isolate reads it. Seen: a cold isolate reads { id: 'p1', name: 'phantom', level: 500 }
  // after the ack, Postgres has no row. The fix belongs in the flusher: keep such a delivery
  // retried (not dead) until its copy is withdrawn.
  it.fails('a write dead-lettered while L2 is down leaves no copy other isolates read', async () => {
    const { bodies, producer } = keeping();
    const writer = t.producer(producer);
    await writer.set(t.schema, { id: 'p1', name: 'phantom', level: 500 });
    expect(await t.producer().find(t.schema, 'p1')).toMatchObject({ level: 500 }); // queued, in L2

    const letters = keeping();
    const consumer = consumerWithoutL2();
    expect(await deliver(consumer, bodies, 1, letters.producer)).toEqual({ acked: 0, retried: 1 });
    const last = await deliver(consumer, bodies, 2, letters.producer); // writeBehind.maxRetry 2: dead
    expect(await t.row('p1')).toBeUndefined();
    // Either the message is still on the queue (retried until its copy is gone), or no copy is left.
    const settled = last.acked === 1 && letters.bodies.length === 1;
    if (settled) expect(await t.producer().find(t.schema, 'p1')).toBeNull();
    else expect(last).toEqual({ acked: 0, retried: 1 });
  });
});
