import {
  createIoredisL2,
  createRedisPubSubBus,
  createRedisStreamQueue,
} from '@strata/adapter-node/redis-tcp';
import { defineSchema, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { dropScratchSchema, serviceUrls, uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type AofRedis, startAofRedis } from '../support/deployment-redis.js';

// Found by helper "huntdeploy" (reliability/test/probe-huntdeploy.test.ts, "set, tx, tags,
// restart"): A queues a set of j (write-behind), B's transaction deletes j (committed in Postgres),
// Redis restarts (SIGKILL, its AOF kept). A's next read of j took a whole REPLACED_WAIT_MS (1 s):
// a transaction told every key it wrote as a `set`, so A kept B's delete as a replaced write whose
// pending row the reset took, and after the reset waited for B to put back a row that never
// existed (Postgres holds none: a delete). A told delete is known to need no row (see
// `restoreOwnPending`); a transaction's deletes are now told as deletes.

const { databaseUrl } = serviceUrls();
const name = uniqueName('regression_tx_delete_told');
const admin = new pg.Pool({ connectionString: databaseUrl, max: 2 });
admin.on('error', () => {});
const table = pgSchema(name).table('items', {
  id: text('id').primaryKey(),
  n: integer('n').notNull(),
});
const schema = defineSchema({ table, writeMode: 'write-behind', l1: { ttl: '10m' } });
let redis: AofRedis;
const opened: Strata[] = [];
const clients: Redis[] = [];
const pools: pg.Pool[] = [];
/** Per instance: its waits after a Redis reset that ran their bound out (metric `resetWaitRanOut`). */
const ranOut = new WeakMap<Strata, { n: number }>();

beforeAll(async () => {
  redis = await startAofRedis();
  await admin.query(`create schema "${name}"`);
  await new Strata({
    l3: createDrizzleL3(drizzle({ client: admin }), { migrationsSchema: name }),
    schemas: [defineSchema({ table })], // the table alone: migrate needs no queue
  }).migrate();
});

afterAll(async () => {
  await Promise.allSettled(opened.map((s) => s.close()));
  for (const c of clients) c.disconnect();
  await Promise.allSettled(pools.map((p) => p.end()));
  await dropScratchSchema(admin, name);
  await admin.end();
  await redis?.stop();
});

function client(): Redis {
  const c = new Redis(redis.url, { maxRetriesPerRequest: 0, protocol: 2 } as never);
  c.on('error', () => {});
  clients.push(c);
  return c;
}

function instance(): Strata {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  pool.on('error', () => {});
  pools.push(pool);
  const waits = { n: 0 };
  const strata = new Strata({
    l2: createIoredisL2(client()),
    l3: createDrizzleL3(drizzle({ client: pool }), { migrationsSchema: name }),
    keyPrefix: name,
    coherence: { bus: createRedisPubSubBus({ redis: client() }) },
    writeBehind: {
      queue: createRedisStreamQueue({ redis: client(), keyPrefix: name }),
      threshold: 1_000_000,
    },
    schemas: [schema],
    metrics: {
      count: (metric) => {
        if (metric === 'resetWaitRanOut') waits.n += 1;
      },
      observe() {},
    },
  });
  ranOut.set(strata, waits);
  opened.push(strata);
  return strata;
}

it("after a Redis restart, a read of a key another instance's transaction deleted does not wait for a row", async () => {
  const [a, b] = [instance(), instance()];
  for (const x of [a, b]) await x.find(schema, 'warm-up'); // subscribed, generation known
  await a.set(schema, { id: 'j', n: 1 });
  await a.flushDirty();
  await a.set(schema, { id: 'j', n: 2 }); // queued: A's own pending write
  const heard = a.stats().invalidationsApplied;
  await b.tx().set(schema, { id: 'k', n: 1 }).delete(schema, 'j').commit();
  await expect.poll(() => a.stats().invalidationsApplied, { timeout: 2_000 }).toBeGreaterThan(heard);

  const gaps = [a, b].map((x) => x.stats().busGaps);
  await redis.kill();
  await redis.start();
  await expect
    .poll(() => [a, b].every((x, i) => x.stats().busGaps > gaps[i]!), { timeout: 10_000 })
    .toBe(true);

  const read = await a.find(schema, 'j');
  expect(read, 'B deleted j').toBeNull();
  // Before: the whole wait (~1,000 ms), run out, for a writer that has no row to put back. Told by
  // the metric, not a wall-clock bound: CI's load stretches the read past that however it ended.
  expect(ranOut.get(a)!.n, 'the read waited for no writer').toBe(0);
  await a.flushDirty();
  const { rows } = await admin.query(`select id, n from "${name}".items order by id`);
  expect(rows).toEqual([{ id: 'k', n: 1 }]);
});
