import { defineSchema, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { countingL2 } from '@strata/core/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createIoredisL2 } from '../src/redis-tcp/l2.js';
import { createRedisStreamQueue } from '../src/redis-tcp/queue.js';
import { scratch } from './support/scratch.js';

// While an instance knows no other shape of its table live, its write scripts carry the short
// shape tail (its own shape and '~alone', see SHAPE_ALONE in shape-scripts.ts). The script still
// reads the registry: a shape that registered since (another code version, before this instance's
// next generation read) is found, nothing is written in Redis, and the write-behind set goes to
// Postgres instead, marking the other shape's key of the row. Real Redis and Postgres.

const store = scratch('wb_alone');
const { name, redisUrl, db } = store;
const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
const items = defineSchema({ table, writeMode: 'write-behind' });
const admin = new Redis(redisUrl, { protocol: 2 });
const keyPrefix = `${name}-a`;
const l2 = countingL2(createIoredisL2(redisUrl));
const strata = new Strata({
  l2: l2.tier,
  l3: createDrizzleL3(db, { migrationsSchema: name }),
  writeBehind: {
    queue: createRedisStreamQueue({
      url: redisUrl,
      keyPrefix,
      stream: `${name}:writes`,
      allowVolatile: true,
    }),
    threshold: 1_000_000,
  },
  keyPrefix,
  schemas: [items],
});
const base = `${keyPrefix}:${name}.items`;
const other = '0zzzzzz-json';

const n = async (id: string) => (await db.select().from(table)).find((row) => row.id === id)?.n;

beforeAll(async () => {
  await strata.migrate();
});

afterAll(async () => {
  await strata.close();
  const keys = await admin.keys(`${name}*`);
  if (keys.length > 0) await admin.del(...keys);
  await admin.quit();
  await store.cleanup();
});

it('a shape registered since the last generation read is found by the short tail: the set goes to Postgres and marks its key', async () => {
  await strata.set(items, { id: 'a', n: 1 }); // registers this shape (generation read), alone
  expect(await n('a')).toBeUndefined(); // queued, not flushed
  const [seconds, micros] = await admin.time();
  await admin.hset(
    `${base}:shapes`,
    other,
    String(Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)),
  );
  l2.ran.length = 0;
  await strata.set(items, { id: 'a', n: 2 });
  // The short tail's script refused (the other shape is live): the write went through Postgres.
  expect(l2.ran[0]).toBe('ordered-put-enqueue');
  expect(await n('a')).toBe(2);
  expect(await admin.get(`${base}:${other}:r:a`)).toMatch(/^~1;x;0;\d+;/);
  expect(await strata.get(items, 'a')).toEqual({ id: 'a', n: 2 });
});

it('a shape not confirmed for 30 s is not live: the short tail writes in Redis alone', async () => {
  const [seconds] = await admin.time();
  await admin.hset(`${base}:shapes`, other, String(Number(seconds) * 1000 - 60_000));
  await strata.set(items, { id: 'a', n: 3 }); // learns the live shapes again (none other)
  l2.ran.length = 0;
  await strata.set(items, { id: 'b', n: 1 });
  expect(l2.ran).toEqual(['ordered-put-enqueue']);
  expect(await n('b')).toBeUndefined(); // queued: write-behind again
  expect(await admin.exists(`${base}:${other}:r:b`)).toBe(0);
  await strata.flushDirty();
  expect(await n('b')).toBe(1);
});
