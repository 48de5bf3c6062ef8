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
  // A client just opened knows no nodes yet: `nodes('master')` would be empty and nothing deleted.
  if (cluster.status !== 'ready') await cluster.ping();
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

/** Polls `check` every 20 ms until it is true; false after `ms`. (A failover has no event to await.) */
export async function until(ms: number, check: () => boolean | Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (
      await Promise.resolve()
        .then(check)
        .catch(() => false)
    )
      return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

/** A script call (EVALSHA / EVAL) some ioredis connection sent: its keys. */
export interface SentScript {
  readonly keys: readonly string[];
}

/**
 * What `during` resolved, and the script calls every ioredis connection sent while it ran, with
 * their keys (a Cluster sends each through one of its nodes' `Redis` connections, pipelines too).
 * An EVAL after an EVALSHA of the same keys is that call sent again (the node answered NOSCRIPT:
 * its first run there), not a call of its own: it is left out.
 */
export async function scriptsDuring<T>(
  during: () => Promise<T>,
): Promise<{ result: T; scripts: SentScript[] }> {
  const spy = vi.spyOn(Redis.prototype, 'sendCommand');
  try {
    const result = await during();
    const scripts: SentScript[] = [];
    const hashed = new Set<string>();
    for (const [command] of spy.mock.calls) {
      if (command.name !== 'evalsha' && command.name !== 'eval') continue;
      const args = command.args.map(String);
      const keys = args.slice(2, 2 + Number(args[1]));
      const named = keys.join('\n');
      if (command.name === 'evalsha') hashed.add(named);
      else if (hashed.delete(named)) continue;
      scripts.push({ keys });
    }
    return { result, scripts };
  } finally {
    spy.mockRestore();
  }
}
