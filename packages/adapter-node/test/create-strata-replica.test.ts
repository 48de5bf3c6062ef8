import { defineSchema, Q } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { type PostgresReplica, startPostgresReplica } from '@strata/devstack/postgres-replica';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStrata, type NodeStrata } from '../src/create-strata.js';

// createStrata passes readYourWrites: a schema's readReplica is read-your-writes for the writer, over
// a real streaming replica (startPostgresReplica) whose replay is paused.
const name = uniqueName('create_strata_replica');
const { redisUrl } = serviceUrls();
const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
let pair: PostgresReplica;
let replicaPool: pg.Pool;
const opened: NodeStrata[] = [];

beforeAll(async () => {
  pair = await startPostgresReplica();
  replicaPool = new pg.Pool({ connectionString: pair.replica.url, max: 2 });
  replicaPool.on('error', () => {});
}, 40_000);

afterAll(async () => {
  for (const node of opened) await node.shutdown();
  await replicaPool?.end();
  await pair?.stop();
  const redis = new Redis(redisUrl, { lazyConnect: true });
  redis.on('error', () => {});
  const keys = await redis.keys(`*${name}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

it("a writer's search answers its write while the replica lags; another instance reads the replica", async () => {
  let replicaReads = 0;
  const replicaDb = drizzle({
    client: replicaPool,
    logger: { logQuery: (q) => void (q.includes(`"${name}"`) && replicaReads++) },
  });
  const items = defineSchema({
    table,
    l1: false,
    l3: { readReplica: createDrizzleL3(replicaDb, { migrationsSchema: name }) },
  });
  const open = async () => {
    const node = await createStrata({
      databaseUrl: pair.primary.url,
      redisUrl,
      schemas: [items],
      keyPrefix: name,
      migrationsSchema: name,
      handleSignals: false,
    });
    opened.push(node);
    return node.strata;
  };
  const writer = await open();
  const other = await open();
  await writer.migrate();
  await writer.set(items, { id: 'a', n: 1 });
  await pair.caughtUp();
  const query = Q().where('id = $1', 'a').build();
  await pair.pauseReplay();
  try {
    await writer.set(items, { id: 'a', n: 2 });
    replicaReads = 0;
    expect(await writer.search(items, query)).toEqual([{ id: 'a', n: 2 }]);
    expect(replicaReads).toBe(0);
    expect(await other.search(items, query)).toEqual([{ id: 'a', n: 1 }]);
    expect(replicaReads).toBe(1);
  } finally {
    await pair.resumeReplay();
  }
  expect(await writer.search(items, query)).toEqual([{ id: 'a', n: 2 }]);
  expect(replicaReads).toBe(2);
});
