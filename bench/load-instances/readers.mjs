// The parent's view of a cell's L2: a reader without a memory tier over the cell's keys. Before the
// run it fills L2 with every row (the steady state of a fleet: a warm shared L2, instances joining
// with a cold L1); after it, what it returns for an id was in Redis (or, when Redis had nothing,
// came from Postgres).
import { createStrata } from '@strata/adapter-node';
import { playerSchema, strataRedis } from './contestants.mjs';
import { canonical } from './rows.mjs';

/**
 * `fill(rows)` puts every row in L2; `read(id)` → `{ value: canonical row, inL2: boolean }`. Strata: its own `l1: false` schema on the
 * same table (the L2 keys are the same: the memory tier is not in them), an L2 hit seen in its
 * stats. bentocache: a store with only its Redis layer, under the cell's prefix.
 */
export async function openL2Reader({ lib, databaseUrl, redis, keyPrefix, schemaName }) {
  if (lib === 'bentocache') {
    const { BentoCache, bentostore } = await import('bentocache');
    const { redisDriver } = await import('bentocache/drivers/redis');
    const { Cluster, Redis } = await import('ioredis');
    const options = { protocol: 2, maxRetriesPerRequest: 1 };
    const client = redis.nodes
      ? new Cluster(redis.nodes, { redisOptions: options })
      : new Redis(redis.url, options);
    client.on('error', () => {});
    const bento = new BentoCache({
      default: 'l2',
      stores: {
        l2: bentostore({ prefix: `${keyPrefix}:bento` }).useL2Layer(redisDriver({ connection: client })),
      },
    });
    return {
      async fill(rows) {
        for (let i = 0; i < rows.length; i += 200)
          await Promise.all(
            rows.slice(i, i + 200).map((row) => bento.set({ key: row.id, value: row, ttl: '10m' })),
          );
        return rows.length;
      },
      async read(id) {
        const value = await bento.get({ key: id });
        return { value: canonical(value), inL2: value !== undefined };
      },
      close: async () => {
        await bento.disconnectAll();
        client.disconnect();
      },
    };
  }
  const players = playerSchema(schemaName, { l1: false });
  const node = await createStrata({
    databaseUrl,
    ...strataRedis(redis),
    schemas: [players],
    keyPrefix,
    migrationsSchema: schemaName,
    maxConnections: 2,
    handleSignals: false,
  });
  return {
    strata: node.strata,
    // warmCache pages through the table (500 rows a page) into the tiers the schema has: L2 only here.
    fill: () => node.strata.warmCache(players),
    async read(id) {
      const before = node.strata.stats().hits.l2;
      const value = await node.strata.get(players, id);
      return { value: canonical(value), inL2: node.strata.stats().hits.l2 > before };
    },
    close: () => node.shutdown(),
  };
}
