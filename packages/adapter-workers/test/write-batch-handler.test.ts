/**
 * `handleWriteBatch` driven directly with the pool's `createMessageBatch` / `getQueueResult`, so each
 * message's ack or retry (and its delay) can be read back exactly. The flush runs for real against
 * the devstack's Postgres.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import type { QueuedWrite } from '@strata/core/driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  defaultRetryDelay,
  handleWriteBatch,
  MAX_RETRY_DELAY_SECONDS,
  type QueueBatch,
  type QueueProducer,
  type WriteDeadLetter,
} from '../src/cloudflare/index.js';
import { WB_QUEUE } from './fixtures/wb-app.js';
import { type WbTestTable, waitFor, wbTestTable } from './support/write-behind.js';

let t: WbTestTable;

beforeAll(async () => {
  t = await wbTestTable('wb_handler');
});
afterAll(() => t?.cleanup());

/**
 * A pool-made batch (so `getQueueResult` reads back each ack and retry), seen through wrappers
 * that write down each retry's delay: the pool's result leaves delays out.
 */
function batchOf(messages: { id: string; attempts: number; body: unknown }[]) {
  const batch = createMessageBatch<unknown>(
    WB_QUEUE,
    messages.map((m) => ({ ...m, timestamp: new Date() })),
  );
  const delays: Record<string, number | undefined> = {};
  const seen: QueueBatch = {
    queue: batch.queue,
    messages: batch.messages.map((msg) => ({
      id: msg.id,
      body: msg.body,
      attempts: msg.attempts,
      ack: () => msg.ack(),
      retry: (options) => {
        delays[msg.id] = options?.delaySeconds;
        msg.retry(options);
      },
    })),
  };
  return { batch, seen, delays };
}

async function settle({ batch, delays }: ReturnType<typeof batchOf>) {
  const result = await getQueueResult(batch, createExecutionContext());
  return {
    acked: [...result.explicitAcks].sort(),
    retried: Object.fromEntries(result.retryMessages.map((m) => [m.msgId, delays[m.msgId]])),
  };
}

/** A write whose row has no `name`: Postgres refuses it (NOT NULL). */
const poison = (id: string): QueuedWrite => ({
  schema: t.table,
  id,
  op: 'set',
  row: `{"id":"${id}"}`,
  version: 1,
});
const unknownSchema: QueuedWrite = { schema: 'wb_items_never_registered', id: 'x', op: 'delete', version: 1 };

describe('handleWriteBatch', () => {
  it('without a dead-letter binding, retries what it gives up on so the platform dead-letters it', async () => {
    const batch = batchOf([
      { id: 'ok', attempts: 1, body: t.write('k1', 1) },
      { id: 'not-json', attempts: 1, body: '{not json' },
      { id: 'unknown', attempts: 3, body: unknownSchema },
      { id: 'poison-1st', attempts: 1, body: poison('k2') }, // retries left (writeBehind.maxRetry 2)
      { id: 'poison-2nd', attempts: 2, body: poison('k3') }, // none left: dead
    ]);
    const result = await handleWriteBatch(t.producer(), batch.seen);

    expect(await settle(batch)).toEqual({
      acked: ['ok'],
      // The delay grows with the deliveries before this one (attempts - 1).
      retried: { 'not-json': 2, unknown: 8, 'poison-1st': 2, 'poison-2nd': 4 },
    });
    expect(result.acked).toEqual(['ok']);
    // A schema no consumer here knows is left for one that does (another app, a newer deploy).
    expect(result.retried).toEqual(['unknown', 'poison-1st']);
    expect(result.dead).toEqual(
      expect.arrayContaining([
        { id: 'not-json', write: null, reason: expect.stringMatching(/^malformed: .*not JSON/), sent: false },
        { id: 'poison-2nd', write: poison('k3'), reason: 'rejected by Postgres (23502)', sent: false },
      ]),
    );
    expect(result.dead).toHaveLength(2);
    expect(await t.row('k1')).toMatchObject({ id: 'k1', name: 'n-k1' });
    expect(await t.row('k3')).toBeUndefined();
  });

  it('with one, sends dead letters there (core records, message id as handle) and acks them', async () => {
    const sent: unknown[] = [];
    const deadLetter: QueueProducer = {
      async sendBatch(messages) {
        const list = [...messages];
        sent.push(...list.map((m) => m.body));
        return env.WB_DLQ.sendBatch(list);
      },
    };
    const batch = batchOf([
      { id: 'ok', attempts: 1, body: t.write('k4', 1) },
      { id: 'bad', attempts: 1, body: { schema: t.table, id: 'k5', op: 'set', row: 5, version: 1 } },
      { id: 'poison', attempts: 2, body: poison('k6') },
    ]);
    const result = await handleWriteBatch(t.producer(), batch.seen, { deadLetter });

    expect(await settle(batch)).toEqual({ acked: ['bad', 'ok', 'poison'], retried: {} });
    expect(result.dead.map((d) => [d.id, d.sent])).toEqual([
      ['bad', true],
      ['poison', true],
    ]);
    expect(sent).toEqual([
      {
        handle: 'bad',
        write: null,
        raw: JSON.stringify({ schema: t.table, id: 'k5', op: 'set', row: 5, version: 1 }),
        reason: expect.stringMatching(/^malformed: queued write: row: /),
        attempts: 1,
      },
      // Its second delivery (writeBehind.maxRetry 2): two tries, as the message's own attempts says.
      { handle: 'poison', write: poison('k6'), reason: 'rejected by Postgres (23502)', attempts: 2 },
    ] satisfies WriteDeadLetter[]);
    // The dead-letter queue's consumer records them under this table: awaited, so they land before
    // the file's cleanup deletes that record (else it stays in Redis after the run).
    const consumed = await waitFor('both dead letters consumed', async () => {
      const letters = await t.deadLetters();
      return letters.length >= 2 && letters;
    });
    expect(consumed.map((d) => (d as WriteDeadLetter).handle).sort()).toEqual(['bad', 'poison']);
  });

  it('retries the dead letters it could not send, and acks the rest', async () => {
    const failing: QueueProducer = {
      sendBatch: () => Promise.reject(new Error('dead-letter queue unavailable')),
    };
    const batch = batchOf([
      { id: 'ok', attempts: 1, body: t.write('k7', 1) },
      { id: 'bad', attempts: 1, body: 42 },
    ]);
    const result = await handleWriteBatch(t.producer(), batch.seen, { deadLetter: failing });

    expect(await settle(batch)).toEqual({ acked: ['ok'], retried: { bad: 2 } });
    expect(result.dead).toEqual([{ id: 'bad', write: null, reason: expect.any(String), sent: false }]);
  });

  it("routes a batch of two apps' writes to each app's Strata; one no Strata takes is retried, typed and logged", async () => {
    const other = await wbTestTable('wb_handler_other');
    try {
      const ofApp = (write: QueuedWrite, keyPrefix: string) => ({ ...write, keyPrefix });
      const batch = batchOf([
        { id: 'mine', attempts: 1, body: ofApp(t.write('r1', 1), t.keyPrefix) },
        { id: 'other', attempts: 1, body: ofApp(other.write('r2', 1), other.keyPrefix) },
        // The first app's table under the second app's keyPrefix: neither Strata flushes it.
        { id: 'nobody', attempts: 1, body: ofApp(t.write('r3', 1), other.keyPrefix) },
        { id: 'older-producer', attempts: 1, body: t.write('r4', 1) }, // no keyPrefix: by its table
      ]);
      const warned: unknown[] = [];
      const logger = { debug() {}, info() {}, error() {}, warn: (_m: string, f?: unknown) => warned.push(f) };
      const result = await handleWriteBatch([t.producer(), other.producer()], batch.seen, { logger });

      expect(await settle(batch)).toEqual({
        acked: ['mine', 'older-producer', 'other'],
        retried: { nobody: 2 },
      });
      expect(result.unroutable.map((u) => [u.id, u.error.code, u.error.details])).toEqual([
        ['nobody', 'SCHEMA_NOT_FOUND', { schema: t.table, keyPrefix: other.keyPrefix }],
      ]);
      expect(warned).toMatchObject([{ code: 'SCHEMA_NOT_FOUND', handle: 'nobody' }]);
      expect([await t.row('r1'), await other.row('r2'), await t.row('r3'), await t.row('r4')]).toMatchObject([
        { id: 'r1' },
        { id: 'r2' },
        undefined,
        { id: 'r4' },
      ]);
    } finally {
      await other.cleanup();
    }
  });

  it('takes a retry delay policy, within what the platform accepts', async () => {
    const batch = batchOf([
      { id: 'a', attempts: 1, body: 'x' },
      { id: 'b', attempts: 5, body: 'x' },
    ]);
    await handleWriteBatch(t.producer(), batch.seen, { retryDelay: (n) => (n === 0 ? Number.NaN : 1e9) });
    expect(await settle(batch)).toEqual({ acked: [], retried: { a: 0, b: MAX_RETRY_DELAY_SECONDS } });
    expect([0, 1, 2, 3, 4, 5, 9].map(defaultRetryDelay)).toEqual([2, 4, 8, 16, 32, 60, 60]);
  });
});
