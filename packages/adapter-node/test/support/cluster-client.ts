import type { RedisCluster } from '@strata/devstack/redis-cluster';
import { Cluster, type ClusterOptions, Redis } from 'ioredis';
import { vi } from 'vitest';

/** Cluster clients a test file opens, quit together in its afterAll. */
export class ClusterClients {
  readonly #opened: Cluster[] = [];

  constructor(private readonly cluster: () => RedisCluster) {}

  /** A Cluster client in RESP2 with no retries, as createStrata opens them. */
  open(options: ClusterOptions = {}): Cluster {
    const client = new Cluster(
      this.cluster().nodes.map(({ host, port }) => ({ host, port })),
      { ...options, redisOptions: { protocol: 2, maxRetriesPerRequest: 0, ...options.redisOptions } },
    );
    client.on('error', () => {});
    this.#opened.push(client);
    return client;
  }

  async quitAll(): Promise<void> {
    await Promise.all(this.#opened.map((client) => client.quit().catch(() => client.disconnect())));
  }
}

/** Deletes every key under `prefix` on every master. */
export async function deleteOnMasters(cluster: Cluster, prefix: string): Promise<void> {
  for (const node of cluster.nodes('master')) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
      for (const key of keys) await node.del(key);
      cursor = next;
    } while (cursor !== '0');
  }
}

/**
 * Commands a Cluster client sends on its own at any time: READONLY on each replica connection it
 * opens, CLUSTER SLOTS every few seconds, CLIENT SETNAME / SETINFO on connect.
 */
const UPKEEP = new Set(['readonly', 'cluster', 'client']);

/**
 * The commands every ioredis connection sent while `during` ran, by name (lower case), without the
 * clients' upkeep. A Cluster sends each through one of its nodes' `Redis` connections.
 */
export async function commandsDuring(during: () => Promise<unknown>): Promise<string[]> {
  const spy = vi.spyOn(Redis.prototype, 'sendCommand');
  try {
    await during();
    return spy.mock.calls.map(([command]) => command.name.toLowerCase()).filter((name) => !UPKEEP.has(name));
  } finally {
    spy.mockRestore();
  }
}
