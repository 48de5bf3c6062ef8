/**
 * The platform delivers at least once: a consumer isolate evicted mid-flush (its `queue()` cut
 * short after Postgres committed, before the caches were settled), the same write sent twice by
 * a producer, and the batch redelivered. Here the producer's messages are captured (keptQueue) and
 * handed to cold consumer Stratas as real Queue batches; the cut is workerd's own: every L2 fetch
 * after Postgres committed the batch never settles, as when the invocation is stopped.
 *
 * The table has a column with an SQL default (only Postgres computes it): a new row's write-behind
 * set reads it as null until its flush, and as Postgres' value after. So a cache the flush did not
 * settle is seen: it still answers null.
 */
import { env } from 'cloudflare:workers';
import { neon } from '@neondatabase/serverless';
import { defineSchema, type Strata } from '@strata/core';
import { uniqueName } from '@strata/devstack/testing';
import { sql as drizzleSql } from 'drizzle-orm';
import { pgTable, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { wbStrata } from './fixtures/wb-app.js';
import { deliverBatch, keptQueue } from './support/kept-queue.js';
import { upstashCommand } from './support/upstash-rest.js';
import { waitFor } from './support/write-behind.js';

const table = `wb_cut_${uniqueName('t')}`;
const keyPrefix = uniqueName('wb_cut');
const items = pgTable(table, {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  stamp: text('stamp').default(drizzleSql`'db'`),
});
const schema = defineSchema({
  table: items,
  writeMode: 'write-behind',
  l1: { ttl: '60s' },
  l2: { ttl: '5m' },
});
const pg = neon(env.DATABASE_URL);
const upstash = { url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN };
const made: Strata[] = [];
/** Another isolate: its own Strata, cold L1 (no bus here: each reads L2, then Postgres). */
const isolate = (queue = keptQueue().producer, tracked = true) => {
  const strata = wbStrata(env, { keyPrefix, schemas: [schema as never], queue });
  if (tracked) made.push(strata);
  return strata;
};
/** A consumer isolate the test cuts short: never closed (close() would wait for its cut fetches). */
const doomed = () => isolate(undefined, false);
const row = async (id: string) => (await pg.query(`select * from "${table}" where id = $1`, [id]))[0];

beforeAll(async () => {
  await pg.query(
    `create table "${table}" (id text primary key, name text not null, stamp text default 'db')`,
  );
});
afterAll(async () => {
  for (const strata of made) await strata.close();
  await pg.query(`drop table if exists "${table}"`);
  await pg.query('delete from _strata_versions where schema = $1', [table]);
  const keys = (await upstashCommand(upstash, ['KEYS', `${keyPrefix}:*`])) as string[];
  if (keys.length > 0) await upstashCommand(upstash, ['DEL', ...keys]);
});

/**
 * Runs `flush` in a consumer that workerd stops once Postgres committed: every later fetch to L2
 * never settles. Resolves when Postgres holds `id`'s row (the flush itself never resolves).
 */
async function cutAfterCommit(id: string, flush: () => Promise<unknown>): Promise<void> {
  const realFetch = globalThis.fetch;
  let committed = false;
  globalThis.fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (committed && url.startsWith(upstash.url)) return new Promise<Response>(() => {});
    const res = await realFetch(input, init);
    const body = typeof init?.body === 'string' ? init.body : '';
    // Neon's HTTP body is JSON: the SQL's quotes come escaped.
    if (body.includes('insert into') && body.includes(table)) committed = true;
    return res;
  };
  try {
    void flush();
    await waitFor(`${id} in Postgres`, async () => committed && (await row(id)));
  } finally {
    globalThis.fetch = realFetch;
  }
}

it('a consumer cut short after Postgres committed: the redelivery settles every cache to the row as applied', async () => {
  const { bodies, producer } = keptQueue();
  const writer = isolate(producer);
  expect(await writer.set(schema, { id: 'a', name: 'v1' })).toMatchObject({ id: 'a', stamp: null });

  await cutAfterCommit('a', () => deliverBatch(doomed(), [bodies[0]]));
  expect(await row('a')).toEqual({ id: 'a', name: 'v1', stamp: 'db' });
  // Not settled: the pending row (SQL default not computed) is what L2 still serves.
  expect(await isolate().find(schema, 'a')).toEqual({ id: 'a', name: 'v1', stamp: null });

  // Redelivered (its first delivery was never acked) to another cold consumer isolate.
  expect(await deliverBatch(isolate(), [bodies[0]], 2)).toEqual({ acked: 1, retried: 0 });
  const reader = isolate();
  expect(await reader.find(schema, 'a')).toEqual({ id: 'a', name: 'v1', stamp: 'db' });
  expect(await reader.search(schema)).toEqual([{ id: 'a', name: 'v1', stamp: 'db' }]);
  expect(await reader.count(schema)).toBe(1);
});

it('the same write sent twice (two messages, one batch), and again after it landed: applied once, settled', async () => {
  const { bodies, producer } = keptQueue();
  const writer = isolate(producer);
  await writer.set(schema, { id: 'b', name: 'v1' });
  await writer.set(schema, { id: 'b', name: 'v2' });

  expect(await deliverBatch(isolate(), [bodies[1], bodies[0], bodies[1]])).toEqual({ acked: 3, retried: 0 });
  expect(await row('b')).toEqual({ id: 'b', name: 'v2', stamp: 'db' });
  expect(await isolate().find(schema, 'b')).toEqual({ id: 'b', name: 'v2', stamp: 'db' });
  expect(await deliverBatch(isolate(), [bodies[0], bodies[1], bodies[1]], 2)).toEqual({
    acked: 3,
    retried: 0,
  });
  expect(await row('b')).toEqual({ id: 'b', name: 'v2', stamp: 'db' });
  expect(await isolate().find(schema, 'b')).toEqual({ id: 'b', name: 'v2', stamp: 'db' });
});

it('a cut consumer whose batch folded two writes of a key, then a newer write queued: no tier goes back', async () => {
  const { bodies, producer } = keptQueue();
  const writer = isolate(producer);
  await writer.set(schema, { id: 'c', name: 'v1' });
  await writer.set(schema, { id: 'c', name: 'v2' });
  await cutAfterCommit('c', () => deliverBatch(doomed(), [bodies[0], bodies[1]]));
  await writer.set(schema, { id: 'c', name: 'v3' });

  // The cut batch comes back, in another order, with the v3 message after it.
  expect(await deliverBatch(isolate(), [bodies[1], bodies[0]], 2)).toEqual({ acked: 2, retried: 0 });
  expect(await isolate().find(schema, 'c')).toMatchObject({ name: 'v3' });
  expect(await deliverBatch(isolate(), [bodies[2]])).toEqual({ acked: 1, retried: 0 });
  expect(await row('c')).toEqual({ id: 'c', name: 'v3', stamp: 'db' });
  const reader = isolate();
  expect(await reader.find(schema, 'c')).toEqual({ id: 'c', name: 'v3', stamp: 'db' });
  expect(await reader.search(schema)).toContainEqual({ id: 'c', name: 'v3', stamp: 'db' });
});
