import { defineSchema, type Logger } from '@strata/core';
import { type RedisReplica, startRedisReplica } from '@strata/devstack/redis-replica';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStrata, type NodeStrata } from '../src/create-strata.js';

// createStrata with redisReplicaUrl: L2 reads go to a real replica (startRedisReplica) when it has
// applied this instance's writes; the replication stream is held on the wire to make it lag.
const name = uniqueName('create_strata_redis_replica');
const { databaseUrl } = serviceUrls();
const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
// No L1: every read reaches L2, where the replica is.
const items = defineSchema({ table, l1: false });
// With L1, for what an instance keeps of a replica's read.
const cachedTable = pgSchema(name).table('cached', {
  id: text('id').primaryKey(),
  n: integer('n').notNull(),
});
const cached = defineSchema({ table: cachedTable, l1: { ttl: '10m' } });
let pair: RedisReplica;
let primary: Redis;
let replica: Redis;
const opened: NodeStrata[] = [];
const warnings: string[] = [];
const logger: Logger = {
  debug: () => {},
  info: () => {},
  warn: (message) => void warnings.push(message),
  error: (message) => void warnings.push(message),
};

beforeAll(async () => {
  pair = await startRedisReplica();
  primary = new Redis(pair.primary.url, { protocol: 2 });
  replica = new Redis(pair.replica.url, { protocol: 2, maxRetriesPerRequest: 0 });
  for (const c of [primary, replica]) c.on('error', () => {});
}, 30_000);

afterAll(async () => {
  for (const node of opened) await node.shutdown();
  primary?.disconnect();
  replica?.disconnect();
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
    schemas: [items, cached],
    keyPrefix: name,
    migrationsSchema: name,
    handleSignals: false,
    logger,
  });
  opened.push(node);
  return node.strata;
};

/** MGETs a server has run so far (INFO commandstats). */
async function mgets(server: Redis): Promise<number> {
  const info = (await server.info('commandstats')) as string;
  return Number(/^cmdstat_mget:calls=(\d+)/m.exec(info)?.[1] ?? 0);
}

it('the writer reads its write while replication is held, another instance the replica; then both the replica', async () => {
  const writer = await open();
  const other = await open();
  await writer.migrate();
  await writer.set(items, { id: 'a', n: 1 });
  await pair.caughtUp();
  expect(await other.get(items, 'a')).toEqual({ id: 'a', n: 1 });

  pair.holdReplication();
  try {
    await writer.set(items, { id: 'a', n: 2 });
    const before = { primary: await mgets(primary), replica: await mgets(replica) };
    expect(await writer.get(items, 'a')).toEqual({ id: 'a', n: 2 });
    const afterWriter = { primary: await mgets(primary), replica: await mgets(replica) };
    // Asked the replica, found it behind its write, read the primary.
    expect(afterWriter).toEqual({ primary: before.primary + 1, replica: before.replica + 1 });
    // The other instance wrote nothing: it may read the replica's older row (bounded by the lag).
    expect(await other.get(items, 'a')).toEqual({ id: 'a', n: 1 });
    expect({ primary: await mgets(primary), replica: await mgets(replica) }).toEqual({
      primary: afterWriter.primary,
      replica: afterWriter.replica + 1,
    });
  } finally {
    await pair.releaseReplication();
  }
  const before = { primary: await mgets(primary), replica: await mgets(replica) };
  expect(await writer.get(items, 'a')).toEqual({ id: 'a', n: 2 });
  expect(await other.get(items, 'a')).toEqual({ id: 'a', n: 2 });
  expect({ primary: await mgets(primary), replica: await mgets(replica) }).toEqual({
    primary: before.primary,
    replica: before.replica + 2,
  });
  // A replica read older than what an instance saw would look like a Redis gone back in time.
  expect(warnings.filter((w) => /L2 was reset/.test(w))).toEqual([]);
});

// An instance told of a write (the bus message, with its version) before its replica has it reads
// the replica's older row: allowed for an instance that did not write (bounded by the lag), but L1
// must not keep it past the message: it refuses a version older than one announced to it.
it('a row older than a write announced to this instance is answered from a lagging replica, never kept in L1', async () => {
  const [writer, other] = [opened[0]!.strata, opened[1]!.strata];
  await writer.set(cached, { id: 'c', n: 1 });
  await pair.caughtUp();
  expect(await other.get(cached, 'c')).toEqual({ id: 'c', n: 1 });
  expect(other.peek(cached, 'c')).toEqual({ id: 'c', n: 1 });

  pair.holdReplication();
  try {
    await writer.set(cached, { id: 'c', n: 2 });
    // The bus message reaches the other instance: its L1 copy goes.
    await expect.poll(() => other.peek(cached, 'c'), { timeout: 5_000 }).toBeUndefined();
    // Its replica does not have the write yet: the older row is its answer, not its L1's.
    expect(await other.get(cached, 'c')).toEqual({ id: 'c', n: 1 });
    expect(other.peek(cached, 'c')).toBeUndefined();
  } finally {
    await pair.releaseReplication();
  }
  await pair.caughtUp();
  expect(await other.get(cached, 'c')).toEqual({ id: 'c', n: 2 });
  expect(other.peek(cached, 'c')).toEqual({ id: 'c', n: 2 });
});

it('with the replica down, reads go to the primary and the caller sees no error', async () => {
  const node = opened[0]!;
  await node.strata.set(items, { id: 'b', n: 7 });
  await pair.stopReplica();
  const before = await mgets(primary);
  expect(await node.strata.get(items, 'b')).toEqual({ id: 'b', n: 7 });
  expect(await opened[1]!.strata.get(items, 'a')).toEqual({ id: 'a', n: 2 });
  expect(await mgets(primary)).toBe(before + 2);
});

it('redisReplicaUrl without redisUrl is INVALID_CONFIG', async () => {
  await expect(
    createStrata({
      databaseUrl,
      redisReplicaUrl: 'redis://127.0.0.1:1',
      schemas: [items],
      keyPrefix: `${name}_bad`,
      handleSignals: false,
    }),
  ).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
});
