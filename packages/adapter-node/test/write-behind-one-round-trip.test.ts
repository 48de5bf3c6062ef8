import { defineSchema, Strata } from '@strata/core';
import { decodeQueuedWrite } from '@strata/core/driver';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { countingL2, strataRejection } from '@strata/core/testing';
import { lapseWriterClaims } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createIoredisL2 } from '../src/redis-tcp/l2.js';
import { createRedisStreamQueue, type RedisStreamQueueOptions } from '../src/redis-tcp/queue.js';
import { recordedRedis } from './support/recorded-redis.js';
import { scratch } from './support/scratch.js';

// A write-behind `set` with the Redis Stream queue on the L2's own Redis is ONE round trip: the L2
// script that takes the versions also XADDs the writes (issue 15). Counted at the seam (L2 calls)
// and on the queue's own connection (commands it sent), over the real Redis and Postgres.

const store = scratch('wb_one_rt');
const { name, redisUrl, db } = store;
const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
const items = defineSchema({ table, writeMode: 'write-behind' });
const admin = new Redis(redisUrl, { protocol: 2 });
/** The same server, database 1: another Redis as far as keys go. */
const otherDb = new Redis(`${redisUrl.replace(/\/\d*$/, '')}/1`, { protocol: 2 });

afterAll(async () => {
  for (const r of [admin, otherDb]) {
    const keys = await r.keys(`${name}*`);
    if (keys.length > 0) await r.del(...keys);
  }
  await Promise.all([admin.quit(), otherDb.quit()]);
  await store.cleanup();
});

/**
 * A Strata of its own (`tag` names its keyPrefix and stream) over the real ioredis L2, its calls
 * named (`l2`), and a Redis Stream queue on its own connection to `queueUrl`, whose commands are
 * recorded (`sent`) once it is connected (ioredis sends a command queued while connecting twice).
 */
async function setup(
  tag: string,
  { queueUrl = redisUrl, ...options }: Partial<RedisStreamQueueOptions> & { queueUrl?: string } = {},
) {
  // Each tag is its own app (keyPrefix) on the one table, one test after the other: the earlier
  // tests' apps, done writing, have their claims lapsed (docs/semantics.md, "One writer per table").
  await lapseWriterClaims(store.pool, name, { redis: admin, keyPrefix: name });
  const l2 = countingL2(createIoredisL2(redisUrl));
  const { connection, sent } = await recordedRedis(queueUrl);
  const queue = createRedisStreamQueue({
    redis: connection,
    keyPrefix: `${name}-${tag}`,
    stream: `${name}:${tag}:writes`,
    allowVolatile: true,
    ...options,
  });
  const strata = new Strata({
    l2: l2.tier,
    l3: createDrizzleL3(db, { migrationsSchema: name }),
    writeBehind: { queue, threshold: 1_000_000 },
    keyPrefix: `${name}-${tag}`,
    schemas: [items],
  });
  /** Closes the Strata (its L2 and queue with it) and the borrowed queue connection. */
  const finish = async () => {
    await strata.close();
    connection.disconnect();
  };
  return { strata, l2, sent, finish };
}

beforeAll(async () => {
  const { strata, finish } = await setup('migrate');
  await strata.migrate();
  await finish();
});

it('on the L2 Redis: after one check, each set is one L2 script and nothing on the queue connection; the flush applies them', async () => {
  const { strata, l2, sent, finish } = await setup('same');
  await strata.set(items, { id: 'a', n: 0 }); // the check: a marker SET on the queue, read back by L2
  expect(sent).toEqual(['set', 'info']); // the marker, and the durability and eviction check (once)
  expect(l2.ran.filter((c) => c === 'getMany')).toHaveLength(1);
  l2.ran.length = 0;
  sent.length = 0;
  for (let i = 1; i <= 10; i++) await strata.set(items, { id: i % 2 ? 'a' : 'b', n: i });
  expect(l2.ran).toEqual(Array(10).fill('ordered-put-enqueue'));
  expect(sent).toEqual([]);
  // The stream holds every write with the version L2 gave it, in order.
  const entries = await admin.xrange(`${name}:same:writes`, '-', '+');
  const writes = entries.map(([, fields]) => decodeQueuedWrite(fields[1]!));
  expect(writes.map((w) => [w.id, w.op, JSON.parse(w.row!).n])).toEqual(
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => [n === 0 || n % 2 ? 'a' : 'b', 'set', n]),
  );
  const versions = writes.map((w) => w.version);
  expect(versions).toEqual([...versions].sort((x, y) => x - y));
  expect(new Set(versions).size).toBe(11);
  // Queued inside the L2 script too, each entry names its writer's app: a shared consumer routes by it.
  expect([...new Set(writes.map((w) => w.keyPrefix))]).toEqual([`${name}-same`]);
  await strata.flushDirty();
  expect(await strata.queueDepth()).toBe(0);
  const rows = await db.select().from(table);
  expect(rows.filter((r) => r.id === 'a' || r.id === 'b').sort((x, y) => x.id.localeCompare(y.id))).toEqual([
    { id: 'a', n: 9 },
    { id: 'b', n: 10 },
  ]);
  await finish();
});

it('on another Redis database: the check says no, and each set is the L2 script plus one MULTI of XADDs', async () => {
  const { strata, l2, sent, finish } = await setup('other', {
    queueUrl: `${redisUrl.replace(/\/\d*$/, '')}/1`,
  });
  await strata.set(items, { id: 'c', n: 1 });
  l2.ran.length = 0;
  sent.length = 0;
  await strata.set(items, { id: 'c', n: 2 });
  expect(l2.ran).toEqual(['ordered-put']);
  expect(sent).toEqual(['multi', 'xadd', 'exec']);
  expect(await otherDb.xlen(`${name}:other:writes`)).toBe(2);
  expect(await admin.exists(`${name}:other:writes`)).toBe(0);
  await strata.flushDirty();
  expect(
    await db
      .select()
      .from(table)
      .then((r) => r.find((x) => x.id === 'c')),
  ).toEqual({ id: 'c', n: 2 });
  await finish();
});

it('a stream key that is not a stream: the set fails and writes neither the row nor a version', async () => {
  const { strata, finish } = await setup('wrongtype');
  await strata.set(items, { id: 'w', n: 1 });
  const [rowKey] = await admin.keys(`${name}-wrongtype:*:r:w`);
  const [counterKey] = await admin.keys(`${name}-wrongtype:*:ver`);
  const before = await admin.mget(rowKey!, counterKey!);
  await admin.rename(`${name}:wrongtype:writes`, `${name}:wrongtype:moved`);
  await admin.set(`${name}:wrongtype:writes`, 'not a stream');
  expect((await strataRejection(strata.set(items, { id: 'w', n: 2 }))).code).toBe('L2_UNAVAILABLE');
  expect(await admin.mget(rowKey!, counterKey!)).toEqual(before);
  expect(await strata.get(items, 'w')).toEqual({ id: 'w', n: 1 });
  await admin.del(`${name}:wrongtype:writes`);
  await admin.rename(`${name}:wrongtype:moved`, `${name}:wrongtype:writes`);
  await strata.set(items, { id: 'w', n: 3 });
  await strata.flushDirty();
  expect(
    await db
      .select()
      .from(table)
      .then((r) => r.find((x) => x.id === 'w')),
  ).toEqual({ id: 'w', n: 3 });
  await finish();
});

it('a queue that refuses (a Redis without AOF, allowVolatile off): INVALID_CONFIG before anything is written', async () => {
  const { strata, l2, finish } = await setup('volatile', { allowVolatile: false });
  expect((await strataRejection(strata.set(items, { id: 'v', n: 1 }))).code).toBe('INVALID_CONFIG');
  expect(l2.ran.filter((c) => c.startsWith('ordered-put'))).toEqual([]);
  expect(await admin.exists(`${name}:volatile:writes`)).toBe(0);
  expect((await strataRejection(strata.get(items, 'v'))).code).toBe('NOT_FOUND');
  await finish();
});
