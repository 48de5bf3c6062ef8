import { defineSchema } from '@strata/core';
import { type RedisReplica, startRedisReplica } from '@strata/devstack/redis-replica';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStrata, type NodeStrata } from '../src/create-strata.js';

// An instance told of a write (the bus message, with its version) before its Redis replica has it
// reads the replica's older row: allowed for an instance that did not write (bounded by the lag),
// but it must not keep that row in L1 past the message: L1 refuses a version older than one
// announced to it (versions, not timing). Replication is held on the wire (startRedisReplica).
const name = uniqueName('redis_replica_l1');
const { databaseUrl } = serviceUrls();
const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
const items = defineSchema({ table, l1: { ttl: '10m' } });
let pair: RedisReplica;
const opened: NodeStrata[] = [];

beforeAll(async () => {
  pair = await startRedisReplica();
}, 30_000);

afterAll(async () => {
  for (const node of opened) await node.shutdown();
  await pair?.stop();
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`drop schema if exists "${name}" cascade`);
  await admin.end();
});

const open = async () => {
  const node = await createStrata({
    databaseUrl,
    redisUrl: pair.primary.url,
    redisReplicaUrl: pair.replica.url,
    schemas: [items],
    keyPrefix: name,
    migrationsSchema: name,
    handleSignals: false,
  });
  opened.push(node);
  return node.strata;
};

it('a row older than a write announced to this instance is answered from a lagging replica, never kept in L1', async () => {
  const writer = await open();
  const other = await open();
  await writer.migrate();
  await writer.set(items, { id: 'a', n: 1 });
  await pair.caughtUp();
  expect(await other.get(items, 'a')).toEqual({ id: 'a', n: 1 });
  expect(other.peek(items, 'a')).toEqual({ id: 'a', n: 1 });

  pair.holdReplication();
  try {
    await writer.set(items, { id: 'a', n: 2 });
    // The bus message reaches the other instance: its L1 copy goes.
    await expect.poll(() => other.peek(items, 'a'), { timeout: 5_000 }).toBeUndefined();
    // Its replica does not have the write yet: the older row is its answer, not its L1's.
    expect(await other.get(items, 'a')).toEqual({ id: 'a', n: 1 });
    expect(other.peek(items, 'a')).toBeUndefined();
  } finally {
    await pair.releaseReplication();
  }
  await pair.caughtUp();
  expect(await other.get(items, 'a')).toEqual({ id: 'a', n: 2 });
  expect(other.peek(items, 'a')).toEqual({ id: 'a', n: 2 });
});
