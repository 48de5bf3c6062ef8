/**
 * A write the PLATFORM dead-letters: past the consumer's `max_retries`, Cloudflare moves a message to
 * the `dead_letter_queue` itself, its body as sent (a plain QueuedWrite), and nothing in Strata's
 * flush sees it happen. `handleWriteBatch` leaves a message to the platform when no Strata of the
 * consumer flushes it (`unroutable`: a table a newer producer deploy added, a tenant this consumer
 * does not serve), when sending a dead letter or a requeue fails, and, without `requeue`, in a
 * Postgres outage longer than the retries. Before `withdrawDeadLetters`, the acknowledged write's
 * pending row stayed in L2 (kept a week), read by every isolate and laid over every search, while
 * Postgres never got it ("expected { id: 'o1', …(3) } to be null"). Here the real Queue: the
 * fixture's consumer registers no `wbx_` table, so the message is retried (2 + 4 + 8 s) and moved
 * to `strata-test-wb-dlq` after `max_retries = 3`, whose consumer (fixtures/wb-consumer.ts) calls
 * `withdrawDeadLetters` with the producer app's Strata.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { neon } from '@neondatabase/serverless';
import { uniqueName } from '@strata/devstack/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { withdrawDeadLetters } from '../src/cloudflare/index.js';
import { WB_DEAD_LETTER_QUEUE, wbDeadKey, wbSchema, wbStrata } from './fixtures/wb-app.js';
import { keptQueue } from './support/kept-queue.js';
import { upstashCommand } from './support/upstash-rest.js';
import { waitFor } from './support/write-behind.js';

// Not `wb_items_…`: the fixture's consumer has no Strata for it (a table only a newer producer knows).
const table = `wbx_orphan_${uniqueName('t')}`;
const keyPrefix = uniqueName('wbx_orphan');
const schema = wbSchema(table);
const pg = neon(env.DATABASE_URL);
const upstash = { url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN };
const made: ReturnType<typeof wbStrata>[] = [];
const isolate = (queue?: ReturnType<typeof keptQueue>['producer']) => {
  const strata = wbStrata(env, { keyPrefix, schemas: [schema], ...(queue && { queue }) });
  made.push(strata);
  return strata;
};

beforeAll(() => isolate().migrate());
afterAll(async () => {
  for (const strata of made) await strata.close();
  await pg.query(`drop table if exists "${table}"`);
  await pg.query('delete from _strata_versions where schema = $1', [table]);
  const keys = (await upstashCommand(upstash, ['KEYS', `${keyPrefix}:*`])) as string[];
  await upstashCommand(upstash, ['DEL', wbDeadKey(table), `${table}:wb-log`, ...keys]);
});

it('a write the platform moved to the dead-letter queue leaves no copy that isolates read', async () => {
  await isolate().set(schema, { id: 'o1', name: 'never applied', level: 1 });
  const moved = await waitFor(
    'the platform moved o1 to the dead-letter queue',
    async () => {
      const bodies = (await upstashCommand(upstash, ['LRANGE', wbDeadKey(table), 0, -1])) as string[];
      return bodies.map((b) => JSON.parse(b) as { id?: string }).find((b) => b.id === 'o1');
    },
    40_000,
  );
  // The body as sent: the platform's move, not a Strata dead letter (`{ handle, write, reason }`).
  expect(moved).toMatchObject({ schema: table, id: 'o1', op: 'set', keyPrefix });

  expect(await pg.query(`select id from "${table}"`)).toEqual([]);
  const reader = isolate();
  // Fails here ("expected { id: 'o1', …(3) } to be null"): the acknowledged row, from L2.
  expect(await reader.find(schema, 'o1')).toBeNull();
  expect(await reader.search(schema)).toEqual([]);
}, 60_000);

it('withdraws a moved write at its version only: a newer write of the key stays; dead letters and other apps are left', async () => {
  const { bodies, producer } = keptQueue();
  const writer = isolate(producer);
  await writer.set(schema, { id: 'o2', name: 'v1', level: 1 });
  await writer.set(schema, { id: 'o3', name: 'gone', level: 1 });
  await writer.set(schema, { id: 'o2', name: 'v2', level: 2 });
  const [v1, o3] = bodies;
  const letter = { handle: 'm0', write: o3, reason: 'rejected by Postgres (23502)', attempts: 2 };
  const foreign = { ...(o3 as object), keyPrefix: `${keyPrefix}_other` };
  const batch = createMessageBatch<unknown>(
    WB_DEAD_LETTER_QUEUE,
    [v1, o3, letter, foreign].map((body, i) => ({ id: `d${i}`, attempts: 1, body, timestamp: new Date() })),
  );
  const consumer = isolate(); // the producer app's Strata, in the dead-letter queue's consumer isolate
  expect(await withdrawDeadLetters(consumer, batch)).toEqual({
    withdrawn: ['d0', 'd1'],
    retried: [],
    unroutable: ['d3'],
    other: ['d2'],
  });
  // Nothing settled: the caller keeps and acks them.
  expect(await getQueueResult(batch, createExecutionContext())).toMatchObject({
    explicitAcks: [],
    retryMessages: [],
  });
  const reader = isolate();
  expect(await reader.find(schema, 'o2')).toMatchObject({ name: 'v2', level: 2 });
  expect(await reader.find(schema, 'o3')).toBeNull();
  expect((await reader.search(schema)).map((r) => r.id).sort()).toEqual(['o2']);
});
