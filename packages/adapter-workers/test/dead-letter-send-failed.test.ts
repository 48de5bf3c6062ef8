/**
 * A write the flush gives up on is recorded withdrawn in Postgres, then its dead letter is sent to
 * the `deadLetter` binding. When that send fails, `handleWriteBatch` retries the message; at its
 * next delivery Postgres refuses it as withdrawn. It was then acked as an older write: `onWriteError`
 * had been told, and no dead-letter queue ever got it ("expected [] to have a length of 1"). Now it
 * is dead-lettered at that delivery. Real Queue batches (createMessageBatch), Neon HTTP, Upstash.
 */
import { env } from 'cloudflare:workers';
import { neon, neonConfig } from '@neondatabase/serverless';
import type { Strata } from '@strata/core';
import { uniqueName } from '@strata/devstack/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { QueueProducer } from '../src/cloudflare/index.js';
import { wbSchema, wbStrata } from './fixtures/wb-app.js';
import { deliverBatch, keptQueue } from './support/kept-queue.js';
import { upstashCommand } from './support/upstash-rest.js';

const table = `wb_dlsend_${uniqueName('t')}`;
const keyPrefix = uniqueName('wb_dlsend');
const schema = wbSchema(table);
const pg = neon(env.DATABASE_URL);
const upstash = { url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN };
const made: Strata[] = [];
const isolate = (queue = keptQueue().producer) => {
  const strata = wbStrata(env, { keyPrefix, schemas: [schema], queue });
  made.push(strata);
  return strata;
};

beforeAll(async () => {
  neonConfig.fetchEndpoint = env.NEON_FETCH_ENDPOINT; // the local endpoint (see wbStrata)
  // Postgres refuses a negative level for good (23514): a poison write.
  await pg.query(
    `create table "${table}" (id text primary key, name text not null, level integer not null default 0 check (level >= 0), note text)`,
  );
});
afterAll(async () => {
  for (const strata of made) await strata.close();
  await pg.query(`drop table if exists "${table}"`);
  await pg.query('delete from _strata_versions where schema = $1', [table]);
  await pg.query('delete from _strata_withdrawn where schema = $1', [table]);
  const keys = (await upstashCommand(upstash, ['KEYS', `${keyPrefix}:*`])) as string[];
  if (keys.length > 0) await upstashCommand(upstash, ['DEL', ...keys]);
});

it('a dead letter whose send failed once reaches the dead-letter queue at the next delivery', async () => {
  const { bodies, producer } = keptQueue();
  await isolate(producer).set(schema, { id: 'p1', name: 'poison', level: -1 });
  const dead = keptQueue();
  let failures = 1;
  const deadLetter: QueueProducer = {
    sendBatch(messages) {
      if (failures-- > 0) return Promise.reject(new Error('dead-letter queue unavailable'));
      return dead.producer.sendBatch(messages);
    },
  };
  // Its last try (maxRetry 2): given up on, withdrawn, recorded; the dead letter's send fails.
  expect(await deliverBatch(isolate(), [bodies[0]], 2, { deadLetter })).toEqual({ acked: 0, retried: 1 });
  expect(dead.bodies).toEqual([]);
  // Its withdrawal is kept by every cleanup until its dead letter is sent (withdrawals-sent.ts).
  const sent = () => pg.query('select sent from _strata_withdrawn where schema = $1', [table]);
  expect(await sent()).toEqual([{ sent: false }]);
  // Delivered again (the platform's retry): refused as withdrawn, and dead-lettered now.
  expect(await deliverBatch(isolate(), [bodies[0]], 3, { deadLetter })).toEqual({ acked: 1, retried: 0 });
  expect(dead.bodies).toHaveLength(1);
  expect(await sent()).toEqual([{ sent: true }]);
  expect(dead.bodies[0]).toMatchObject({ write: { id: 'p1' }, reason: expect.stringContaining('withdrawn') });
  expect(await pg.query(`select id from "${table}"`)).toEqual([]);
  expect(await isolate().find(schema, 'p1')).toBeNull();
});

it('a copy queued again after a Redis reset is dead-lettered while its dead letter is unsent, then acked', async () => {
  const { bodies, producer } = keptQueue();
  await isolate(producer).set(schema, { id: 'p2', name: 'poison', level: -1 });
  const dead = keptQueue();
  const failing: QueueProducer = {
    sendBatch: () => Promise.reject(new Error('dead-letter queue unavailable')),
  };
  expect(await deliverBatch(isolate(), [bodies[0]], 2, { deadLetter: failing })).toEqual({
    acked: 0,
    retried: 1,
  });
  const sent = () =>
    pg.query('select sent from _strata_withdrawn where schema = $1 and id = $2', [table, 'p2']);
  expect(await sent()).toEqual([{ sent: false }]);
  // The copy its writer queues after a Redis reset (own-pending.ts `queueAgain`): a Cloudflare Queue
  // keeps the original, but the copy may come first; refused as withdrawn, it was acked as older.
  const copy = { ...(bodies[0] as object), restored: true };
  const deadLetter = dead.producer;
  expect(await deliverBatch(isolate(), [copy], 1, { deadLetter })).toEqual({ acked: 1, retried: 0 });
  expect(dead.bodies).toMatchObject([
    { write: { id: 'p2', restored: true }, reason: expect.stringContaining('withdrawn') },
  ]);
  expect(await sent()).toEqual([{ sent: true }]);
  // Known sent now: another copy is acked without a second dead letter (the original, not restored,
  // is dead-lettered at every delivery: see the test above).
  expect(await deliverBatch(isolate(), [copy], 1, { deadLetter })).toEqual({ acked: 1, retried: 0 });
  expect(dead.bodies).toHaveLength(1);
  expect(await pg.query(`select id from "${table}"`)).toEqual([]);
});
