import { type RedisCluster, startRedisCluster } from '@strata/devstack/redis-cluster';
import { lapseWriterClaims, serviceUrls } from '@strata/devstack/testing';
import type { Cluster } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { type CreateStrataOptions, createStrata, type NodeStrata } from '../../src/create-strata.js';
import { masterFor } from '../../src/redis-tcp/cluster-slots.js';
import { ClusterClients, deleteOnMasters } from './cluster-client.js';
import type { RestartedNode } from './restart-cluster-node.js';

/**
 * A test file's own Redis Cluster (3 masters + 3 replicas, started in its beforeAll) and the
 * `createStrata` instances it opens there: keyPrefix and Postgres schema `name`, then `defaults`,
 * then each `open`'s options. Its afterAll shuts them, drops the schema, deletes the keys under
 * `{name` on every master and stops every node, the `restarted` ones too.
 */
export function clusterApp(
  name: string,
  defaults: Partial<CreateStrataOptions> & Pick<CreateStrataOptions, 'schemas'>,
) {
  const { databaseUrl } = serviceUrls();
  let started: RedisCluster | undefined;
  const cluster = (): RedisCluster => {
    if (!started) throw new Error(`cluster of ${name}: used before its beforeAll ran`);
    return started;
  };
  const clients = new ClusterClients(cluster);
  const opened: NodeStrata[] = [];
  const restarted: RestartedNode[] = [];

  beforeAll(async () => {
    started = await startRedisCluster();
  }, 30_000);

  afterAll(async () => {
    for (const each of opened) await each.shutdown().catch(() => undefined);
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    await admin.query(`drop schema if exists "${name}" cascade`).finally(() => admin.end());
    if (started) await deleteOnMasters(clients.open(), `{${name}`).catch(() => undefined);
    await clients.quitAll();
    for (const node of restarted) await node.stop();
    await started?.stop();
  });

  return {
    cluster,
    clients,
    restarted,
    /**
     * Lapses the claims of the apps opened so far on this file's tables, as stopping them would 60 s
     * later: the next app (another keyPrefix) may take the tables (docs/semantics.md, "One writer per table").
     */
    async lapseClaims(): Promise<void> {
      const admin = new pg.Client({ connectionString: databaseUrl });
      await admin.connect();
      await lapseWriterClaims(admin, name).finally(() => admin.end());
    },
    async open(options: Partial<CreateStrataOptions> = {}): Promise<NodeStrata> {
      const node = await createStrata({
        databaseUrl,
        redisCluster: { nodes: cluster().nodes.map(({ host, port }) => ({ host, port })) },
        keyPrefix: name,
        migrationsSchema: name,
        handleSignals: false,
        ...defaults,
        ...options,
      });
      opened.push(node);
      return node;
    },
  };
}

/**
 * The master with the most of `{name#0}`…`{name#buckets-1}`'s slots, and those buckets: the one to
 * SIGKILL for a failover that hits several buckets. `spare` buckets must not be among them.
 */
export async function busiestMaster(
  admin: Cluster,
  name: string,
  buckets: number,
  spare: readonly number[] = [],
): Promise<[port: number, buckets: number[]]> {
  const byMaster = new Map<number, number[]>();
  for (let b = 0; b < buckets; b++) {
    const port = (await masterFor(admin, `{${name}#${b}}`)).options.port!;
    byMaster.set(port, [...(byMaster.get(port) ?? []), b]);
  }
  return [...byMaster]
    .filter(([, held]) => !held.some((b) => spare.includes(b)))
    .sort((x, y) => y[1].length - x[1].length)[0]!;
}
