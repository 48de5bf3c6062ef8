import { defineSchema, isStrataError, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { sql } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createIoredisL2 } from '../src/redis-tcp/l2.js';
import { createRedisStreamQueue } from '../src/redis-tcp/queue.js';
import { scratch } from './support/scratch.js';

// A write given up on is recorded withdrawn in Postgres, then moved to the dead-letter stream (one
// script). When that script fails (here: the dead-letter stream's key holds a string, WRONGTYPE),
// the entry stays in the stream and is delivered again; Postgres refuses it as withdrawn and it was
// acked as an older write: `onWriteError` told, the dead-letter stream empty, the entry gone. Now it
// is dead-lettered at that delivery. Real Redis Stream, real Postgres.

const store = scratch('dl_send');
const { name, redisUrl, db } = store;
const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
const stream = `${name}:writes`;
const dead = `${stream}:dead`;
const admin = new Redis(redisUrl);
admin.on('error', () => {});
const errors: unknown[] = [];
const items = defineSchema({
  table,
  writeMode: 'write-behind',
  hooks: { onWriteError: (_id, err) => void errors.push(err) },
});
let strata: Strata;

beforeAll(async () => {
  strata = new Strata({
    l2: createIoredisL2(redisUrl),
    l3: createDrizzleL3(db, { migrationsSchema: name }),
    writeBehind: {
      queue: createRedisStreamQueue({
        url: redisUrl,
        keyPrefix: name,
        stream,
        consumer: 'a',
        allowVolatile: true,
      }),
      maxRetry: 1,
      threshold: 1_000_000,
    },
    keyPrefix: name,
    schemas: [items],
  });
  await strata.migrate();
  // Postgres refuses a negative n for good (23514): a poison write.
  await db.execute(sql.raw(`alter table "${name}"."items" add constraint n_positive check (n >= 0)`));
});

afterAll(async () => {
  await strata?.close();
  await admin.del(dead);
  admin.disconnect();
  await store.cleanup();
});

it('a dead letter whose move to the dead-letter stream failed once is dead-lettered at its next delivery', async () => {
  await strata.set(items, { id: 'p1', n: -1 });
  await admin.set(dead, 'not a stream'); // the move fails: WRONGTYPE
  const failed = await strata.flushDirty().then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(String(failed)).toMatch(/WRONGTYPE/);
  expect(await admin.xlen(stream)).toBe(1);
  await admin.del(dead);
  await strata.flushDirty();
  const letters = await admin.xrange(dead, '-', '+');
  expect({
    letters: letters.map(([, fields]) => fields[fields.indexOf('reason') + 1]),
    queued: await admin.xlen(stream),
    errors: errors.map((e) => isStrataError(e, 'WRITE_BEHIND_MAX_RETRY')),
    stored: (await db.select().from(table)).length,
  }).toEqual({ letters: [expect.stringContaining('withdrawn')], queued: 0, errors: [true], stored: 0 });
});
