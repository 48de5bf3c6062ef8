// The two caches a load child can run, behind one shape: `get(id)`, `set(row)`, `l1(id)` (what the
// instance's memory tier holds, or `undefined` when it cannot say), `l3()` (Postgres queries made so
// far: reads, writes) and `close()`.
//
// - Strata: createStrata (L1 + L2 + L3 write-through, bus) on one Redis or on the Cluster. Its L3
//   queries are its own counters: `stats().l3Reads` (coalesced misses count once) and one write
//   transaction per write-through `set`.
// - bentocache: memory L1 + Redis L2 + Redis bus (its own invalidation of the other instances' L1),
//   `getOrSet` with a Drizzle select as the factory; a write is the app's upsert, then `bento.set`
//   (its write-through: L1, L2 and a bus message). Its L3 queries are counted here, around the
//   factory and the upsert. Its driver takes an ioredis Cluster as it takes a Redis.
import { createStrata } from '@strata/adapter-node';
import { defineSchema } from '@strata/core';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { Cluster, Redis } from 'ioredis';
import pg from 'pg';
import { playerTable } from '../lib/stack.mjs';

/** Postgres connections per instance (4 instances: 32, within the machine's 100 with room for the rest). */
export const POOL_SIZE = 8;

/** `{ url }` for one Redis, `{ nodes }` for the Cluster. */
export async function openContestant({ lib, databaseUrl, redis, keyPrefix, schemaName, writeMode }) {
  if (lib === 'strata') return openStrata({ databaseUrl, redis, keyPrefix, schemaName, writeMode });
  if (lib === 'bentocache') return openBento({ databaseUrl, redis, keyPrefix, schemaName });
  throw new Error(`load child: unknown library ${lib}`);
}

/** The player schema of the run; `l1: false` for a reader that must look in L2. */
export function playerSchema(schemaName, options = {}) {
  return defineSchema({ table: playerTable(schemaName), ...options });
}

/** Strata's Redis options for a setup: one Redis URL, or the Cluster's nodes (and its buckets). */
export function strataRedis(redis) {
  if (!redis.nodes) return { redisUrl: redis.url };
  return { redisCluster: { nodes: redis.nodes }, ...(redis.buckets && { buckets: redis.buckets }) };
}

async function openStrata({ databaseUrl, redis, keyPrefix, schemaName, writeMode = 'write-through' }) {
  const players = playerSchema(schemaName, { writeMode, l1: { ttl: '10m' } });
  const node = await createStrata({
    databaseUrl,
    ...strataRedis(redis),
    schemas: [players],
    keyPrefix,
    migrationsSchema: schemaName,
    maxConnections: POOL_SIZE,
    handleSignals: false,
    // The write-behind row's stream has no AOF on the machine's Redis; the bench accepts that.
    allowVolatileQueue: true,
  });
  const { strata } = node;
  return {
    get: (id) => strata.get(players, id),
    set: (row) => strata.set(players, row),
    l1: (id) => strata.peek(players, id),
    l3: () => {
      const s = strata.stats();
      // A write-behind set reaches Postgres through the flusher (s.flushed); write-through directly.
      return { reads: s.l3Reads, writes: writeMode === 'write-behind' ? s.flushed : s.sets };
    },
    stats: () => strata.stats(),
    flush: () => strata.flushDirty(),
    close: () => node.shutdown(),
  };
}

async function openBento({ databaseUrl, redis, keyPrefix, schemaName }) {
  // Imported here: bentocache resolves its ioredis through the hook the child registers first.
  const { BentoCache, bentostore } = await import('bentocache');
  const { memoryDriver } = await import('bentocache/drivers/memory');
  const { redisBusDriver, redisDriver } = await import('bentocache/drivers/redis');
  const players = playerTable(schemaName);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: POOL_SIZE });
  pool.on('error', () => {});
  const db = drizzle(pool);
  const connect = () => {
    const options = { protocol: 2, maxRetriesPerRequest: 1 };
    const client = redis.nodes
      ? new Cluster(redis.nodes, { redisOptions: options })
      : new Redis(redis.url, options);
    client.on('error', () => {});
    return client;
  };
  const l2 = connect();
  const bus = connect();
  const bento = new BentoCache({
    default: 'players',
    stores: {
      players: bentostore({ prefix: `${keyPrefix}:bento` })
        // serialize: false (the bench's other suites) crashes bentocache 1.6.1 here: a bus message for a
        // key its L1 filled from L2 throws in LocalCache.logicallyExpire (serializer undefined), uncaught.
        .useL1Layer(memoryDriver({ maxItems: 10_000 }))
        .useL2Layer(redisDriver({ connection: l2 }))
        .useBus(redisBusDriver({ connection: bus })),
    },
  });
  const counts = { reads: 0, writes: 0 };
  return {
    get: (id) =>
      bento.getOrSet({
        key: id,
        ttl: '10m',
        factory: async () => {
          counts.reads += 1;
          return (await db.select().from(players).where(eq(players.id, id)).limit(1))[0] ?? null;
        },
      }),
    set: async (row) => {
      counts.writes += 1;
      // The workload changes only these two columns (see child.mjs).
      await db
        .insert(players)
        .values(row)
        .onConflictDoUpdate({ target: players.id, set: { level: row.level, updatedAt: row.updatedAt } });
      await bento.set({ key: row.id, value: row, ttl: '10m' });
    },
    // bentocache has no read of its memory layer alone: `get` (L1, then L2) stands for it.
    l1: () => undefined,
    l3: () => ({ ...counts }),
    stats: () => undefined,
    flush: async () => {},
    close: async () => {
      await bento.disconnectAll();
      l2.disconnect();
      bus.disconnect();
      await pool.end();
    },
  };
}
