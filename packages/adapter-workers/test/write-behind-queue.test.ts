/**
 * Write-behind through Cloudflare Queues for real, in workerd: producer Stratas enqueue with
 * `createCloudflareQueue(env.WB)`, Miniflare's broker batches the messages to the fixture Worker's
 * `queue()`, whose own Strata flushes them with `handleWriteBatch` into the devstack's Postgres,
 * and sends what it gives up on to `strata-test-wb-dlq`. Waits poll Postgres (or the consumer's
 * records in Redis, where Postgres must not change), bounded.
 */
import { env } from 'cloudflare:workers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCloudflareQueue, type WriteDeadLetter } from '../src/cloudflare/index.js';
import { WB_MAX_RETRY, type WbLogEntry } from './fixtures/wb-app.js';
import { type WbTestTable, waitFor, wbTestTable } from './support/write-behind.js';

let t: WbTestTable;

beforeAll(async () => {
  t = await wbTestTable('wb_queue');
});
afterAll(() => t?.cleanup());

/** The consumer's records of one write id, oldest first. */
const entriesOf = async (id: string): Promise<WbLogEntry[]> => (await t.log()).filter((e) => e.id === id);

describe('write-behind on Cloudflare Queues', () => {
  it('set returns before Postgres has the row, another instance reads it from L2, the consumer lands it', async () => {
    const writer = t.producer();
    const stored = await writer.set(t.schema, { id: 'a1', name: 'ada', level: 3 });
    expect(stored).toMatchObject({ id: 'a1', name: 'ada', level: 3 });
    // Acknowledged by the queue, not by Postgres: the batch has not even been delivered yet.
    expect(await t.row('a1')).toBeUndefined();

    const reader = t.producer(); // another isolate: empty L1
    expect(await reader.get(t.schema, 'a1')).toMatchObject({ id: 'a1', name: 'ada', level: 3 });
    expect(reader.stats()).toMatchObject({ hits: { l1: 0, l2: 1 }, l3Reads: 0 });

    const landed = await waitFor('a1 in Postgres', () => t.row('a1'));
    expect(landed).toEqual({ id: 'a1', name: 'ada', level: 3, note: null });
    const [entry] = await waitFor('a1 acked', async () => {
      const seen = await entriesOf('a1');
      return seen.length > 0 && seen;
    });
    expect(entry).toMatchObject({ outcome: 'acked', attempts: 1 });
  });

  it('coalesces 50 sets of one key: Postgres ends with the last', async () => {
    const writer = t.producer();
    for (let i = 1; i <= 50; i++) await writer.set(t.schema, { id: 'b1', name: `v${i}`, level: i });

    await waitFor('b1 at level 50', async () => (await t.row('b1'))?.level === 50);
    // Every message settled, and none older undid the last: the versioned flush ignores stale ones.
    const acked = await waitFor('50 acks of b1', async () => {
      const seen = (await entriesOf('b1')).filter((e) => e.outcome === 'acked');
      return seen.length >= 50 && seen;
    });
    expect(await t.row('b1')).toEqual({ id: 'b1', name: 'v50', level: 50, note: null });
    expect(await t.version('b1')).toBe(Math.max(...acked.map((e) => e.version ?? 0)));
    // Batched: far fewer flushes than writes.
    expect(new Set(acked.map((e) => e.batch)).size).toBeLessThan(50);
  });

  it('a replayed older write (set or delete) changes nothing once a newer one landed', async () => {
    const writer = t.producer();
    await writer.set(t.schema, { id: 'c1', name: 'newest', level: 7 });
    await waitFor('c1 in Postgres', () => t.row('c1'));
    const version = (await t.version('c1'))!;
    expect(version).toBeGreaterThan(2);

    const queue = createCloudflareQueue(env.WB);
    await queue.enqueue([t.write('c1', version - 1, { name: 'stale', level: 1 })]);
    await queue.enqueue([{ schema: t.table, id: 'c1', op: 'delete', version: version - 2 }]);
    // Postgres must not change, so wait for the consumer to have acked both replays.
    await waitFor('both replays acked', async () => {
      const seen = await entriesOf('c1');
      const acked = (v: number) => seen.some((e) => e.version === v && e.outcome === 'acked');
      return acked(version - 1) && acked(version - 2);
    });
    expect(await t.row('c1')).toEqual({ id: 'c1', name: 'newest', level: 7, note: null });
    expect(await t.version('c1')).toBe(version);
  });

  it('a poison write ends in the dead-letter queue; the other writes of its batch land', async () => {
    const poison = {
      schema: t.table,
      id: 'd2',
      op: 'set' as const,
      row: '{"id":"d2","level":2}',
      version: 1,
    };
    await createCloudflareQueue(env.WB).enqueue([t.write('d1', 1), poison, t.write('d3', 1)]);

    await waitFor('d1 and d3 in Postgres', async () => (await t.count('d')) === 2);
    expect(await t.row('d1')).toMatchObject({ name: 'n-d1' });
    expect(await t.row('d3')).toMatchObject({ name: 'n-d3' });
    const dead = await waitFor('d2 dead-lettered', async () =>
      ((await t.deadLetters()) as WriteDeadLetter[]).find((l) => l.write?.id === 'd2'),
    );
    // NOT NULL (23502) on `name`: rejected, retried, rejected again at writeBehind.maxRetry, then dead.
    expect(dead).toEqual({
      handle: expect.any(String),
      write: poison,
      reason: 'rejected by Postgres (23502)',
      // The tries made, the last one counted: as the consumer's log of the message says (below).
      attempts: WB_MAX_RETRY,
    });
    expect(await t.row('d2')).toBeUndefined();
    const d2 = await entriesOf('d2');
    expect(d2.map((e) => [e.attempts, e.outcome])).toEqual([
      [1, 'retried'],
      [2, 'dead-sent'],
    ]);
    // It shared its first batch with the writes that landed.
    const d1 = await entriesOf('d1');
    expect(d1).toEqual([expect.objectContaining({ batch: d2[0]!.batch, outcome: 'acked' })]);
  });

  it('a malformed message goes to the dead-letter queue and does not block its batch', async () => {
    const malformed = { schema: t.table, id: 'e1', op: 'upsert', version: 1 };
    await env.WB.sendBatch([
      { body: malformed, contentType: 'json' },
      { body: t.write('e2', 1), contentType: 'json' },
    ]);

    await waitFor('e2 in Postgres', () => t.row('e2'));
    const dead = await waitFor('e1 dead-lettered', async () =>
      ((await t.deadLetters()) as WriteDeadLetter[]).find((l) => l.write === null),
    );
    expect(dead).toMatchObject({ write: null, attempts: 1, reason: expect.stringMatching(/^malformed: /) });
    expect(JSON.parse((dead as { raw: string }).raw)).toEqual(malformed);
    expect(await t.row('e1')).toBeUndefined();
  });
});
