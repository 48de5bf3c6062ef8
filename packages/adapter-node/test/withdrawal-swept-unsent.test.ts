import { defineSchema, isStrataError, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { sql } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createIoredisL2 } from '../src/redis-tcp/l2.js';
import { createRedisStreamQueue } from '../src/redis-tcp/queue.js';
import { WRITE_FIELD } from '../src/redis-tcp/stream-entry.js';
import { scratch } from './support/scratch.js';

// A write given up on is recorded withdrawn, then moved to the dead-letter stream; when the move
// fails, the entry is delivered again and dead-lettered then (dead-letter-send-failed.test.ts). But
// another dead letter's cleanup deleted withdrawals Postgres' versions had reached: a later write of
// the key, flushed by another instance of the app (its own stream), then a dead letter of that
// instance near the key, and the entry, delivered again, was refused as older and acked: the
// dead-letter stream empty, `onWriteError` told. Now a withdrawal is cleaned up only once its dead
// letter is in the dead-letter stream. Real Redis Streams, real Postgres.

const store = scratch('wd_unsent');
const { name, redisUrl, db } = store;
const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
const streamA = `${name}:writes-a`;
const streamB = `${name}:writes-b`;
const admin = new Redis(redisUrl);
admin.on('error', () => {});
const errors: unknown[] = [];
const items = defineSchema({
  table,
  writeMode: 'write-behind',
  hooks: { onWriteError: (_id, err) => void errors.push(err) },
});
const instance = (stream: string, consumer: string) =>
  new Strata({
    l2: createIoredisL2(redisUrl),
    l3: createDrizzleL3(db, { migrationsSchema: name }),
    writeBehind: {
      queue: createRedisStreamQueue({
        url: redisUrl,
        keyPrefix: name,
        stream,
        consumer,
        allowVolatile: true,
      }),
      maxRetry: 1,
      threshold: 1_000_000,
    },
    keyPrefix: name,
    schemas: [items],
  });
let a: Strata;
let b: Strata;

beforeAll(async () => {
  a = instance(streamA, 'a');
  b = instance(streamB, 'b');
  await a.migrate();
  // Postgres refuses a negative n for good (23514): a poison write.
  await db.execute(sql.raw(`alter table "${name}"."items" add constraint n_positive check (n >= 0)`));
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await admin.del(`${streamA}:dead`, `${streamB}:dead`);
  admin.disconnect();
  await store.cleanup();
});

const reasons = async (stream: string) =>
  (await admin.xrange(`${stream}:dead`, '-', '+')).map(([, f]) => [
    (JSON.parse(f[f.indexOf(WRITE_FIELD) + 1]!) as { id: string }).id,
    f[f.indexOf('reason') + 1],
  ]);

it('a withdrawal whose dead letter is not in the dead-letter stream yet survives another dead letter’s cleanup', async () => {
  await a.set(items, { id: 'k2', n: -1 });
  await admin.set(`${streamA}:dead`, 'not a stream'); // the move fails: WRONGTYPE
  const failed = await a.flushDirty().then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(String(failed)).toMatch(/WRONGTYPE/);
  await admin.del(`${streamA}:dead`);
  // A later write of k2 lands through B; then B dead-letters k3, whose cleanup looks at k2.
  await b.set(items, { id: 'k2', n: 2 });
  await b.flushDirty();
  await b.set(items, { id: 'k3', n: -3 });
  await b.flushDirty();
  expect((await reasons(streamB)).map(([id]) => id)).toEqual(['k3']);
  await a.flushDirty();
  expect({
    letters: await reasons(streamA),
    queued: await admin.xlen(streamA),
    errors: errors.map((e) => isStrataError(e, 'WRITE_BEHIND_MAX_RETRY')),
    stored: await db.select().from(table).orderBy(table.id),
  }).toEqual({
    letters: [['k2', expect.stringContaining('withdrawn')]],
    queued: 0,
    errors: [true, true],
    stored: [{ id: 'k2', n: 2 }],
  });
});
