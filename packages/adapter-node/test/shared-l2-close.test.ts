import { defineSchema, type L2Tier, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { lapseWriterClaims } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createIoredisL2 } from '../src/redis-tcp/l2.js';
import { createRedisStreamQueue } from '../src/redis-tcp/queue.js';
import { scratch } from './support/scratch.js';

// One L2 (or write queue) object given to two Strata instances (two apps in one process, tests): the
// first close() must not close it under the other; the last one closes it. Real Redis and Postgres.

const store = scratch('tidy_shared_l2');
const { name, redisUrl, db } = store;
const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
// No L1: every read below is answered by L2 (or Postgres when L2 fails).
const items = defineSchema({ table, l1: false });
const admin = new Redis(redisUrl, { protocol: 2 });
// Opened from a URL: the L2 owns its connection, and its close() quits it.
const connectionName = `${name}_l2`;
const l2 = createIoredisL2(redisUrl, { connectionName });
const make = (app: string) =>
  new Strata({
    l2,
    l3: createDrizzleL3(db, { migrationsSchema: name }),
    keyPrefix: `${name}-${app}`,
    schemas: [items],
  });
const first = make('a');
const second = make('b');

/** Whether the L2's own connection is still connected to Redis. */
const connected = async () => ((await admin.client('LIST')) as string).includes(` name=${connectionName} `);

beforeAll(async () => {
  await first.migrate();
});

afterAll(async () => {
  await first.close();
  await second.close();
  await admin.quit();
  await store.cleanup();
});

it('closing one of two instances sharing an L2 leaves it open for the other; the last close closes it', async () => {
  await first.set(items, { id: 'x', n: 1 });
  await second.set(items, { id: 'y', n: 2 });
  await first.close();

  const before = second.stats();
  await second.set(items, { id: 'y', n: 3 });
  expect(await second.get(items, 'y')).toEqual({ id: 'y', n: 3 });
  const after = second.stats();
  expect(after.hits.l2 - before.hits.l2).toBe(1);
  expect(after.errors).toBe(0);
  expect(await connected()).toBe(true);

  await second.close();
  expect(await connected()).toBe(false);
});

it('closing one of two instances sharing a write queue leaves it open for the other', async () => {
  const queued = defineSchema({ table, l1: false, writeMode: 'write-behind' });
  const keyPrefix = `${name}-q`;
  // Opened from a URL: the queue owns its connection, and its close() quits it.
  const queue = createRedisStreamQueue({ url: redisUrl, keyPrefix, allowVolatile: true });
  const make = (l2: L2Tier) =>
    new Strata({
      l2,
      l3: createDrizzleL3(db, { migrationsSchema: name }),
      keyPrefix,
      schemas: [queued],
      writeBehind: { queue, threshold: 1_000_000 },
    });
  const shared = createIoredisL2(redisUrl); // the first test's L2 is closed by now
  const [a, b] = [make(shared), make(shared)];
  // The first test's apps (closed) claimed the table write-through: lapsed, as stopped apps' claims
  // would be, so this write-behind app may take it (docs/semantics.md, "One writer per table").
  await lapseWriterClaims(store.pool, name, { redis: admin, keyPrefix: name });
  try {
    await a.close();
    await b.set(queued, { id: 'q', n: 4 });
    await b.flushDirty();
    expect((await db.select().from(table)).find((row) => row.id === 'q')?.n).toBe(4);
    expect(b.stats().errors).toBe(0);
  } finally {
    await b.close();
  }
  await expect(queue.pending()).rejects.toMatchObject({ code: 'QUEUE_UNAVAILABLE' }); // the last close closed it
});
