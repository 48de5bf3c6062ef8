import { createHash } from 'node:crypto';
import type { L2Tier } from '@strata/core';
import { getManyByMget, type L2Script } from '@strata/core/driver';
import type { L2Fixture } from '@strata/core/testing';
import { type Cluster, Redis } from 'ioredis';
import { vi } from 'vitest';

/** One call a Redis Cluster refused: which script (or MGET), on which keys, in which slots. */
export interface ClusterRefusal {
  op: string;
  error: string;
  /** The keys as the suite named them (its prefix cut off), with their slots. */
  keys: { key: string; slot: number }[];
}

/**
 * What `createIoredisL2` does over a `Redis`, over a `Cluster` instead (EVALSHA, EVAL on NOSCRIPT;
 * MGET), minus the write coalescing, which reads `commandQueue` and `stream` of a single
 * connection that a `Cluster` does not have. Every refusal is recorded in `refusals`.
 */
export class ClusterProbeL2 implements L2Tier {
  readonly name = 'ioredis-cluster';
  readonly refusals: ClusterRefusal[] = [];
  readonly #cluster: Cluster;
  readonly #prefix: string;

  constructor(cluster: Cluster, prefix: string) {
    this.#cluster = cluster;
    this.#prefix = prefix;
  }

  getMany(keys: readonly string[]): Promise<(string | null)[]> {
    return this.#recorded('MGET', keys, () => getManyByMget(this.name, keys, (k) => this.#cluster.mget(k)));
  }

  run(script: L2Script, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    const sha = createHash('sha1').update(script.source).digest('hex');
    return this.#recorded(script.name, keys, async () => {
      try {
        return await this.#cluster.evalsha(sha, keys.length, ...keys, ...args);
      } catch (err) {
        if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err;
        return this.#cluster.eval(script.source, keys.length, ...keys, ...args);
      }
    });
  }

  async close(): Promise<void> {}

  async #recorded<T>(op: string, keys: readonly string[], call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      const named = await Promise.all(
        keys.map(async (key) => ({
          key: key.startsWith(this.#prefix) ? key.slice(this.#prefix.length) : key,
          slot: Number(await this.#cluster.call('CLUSTER', 'KEYSLOT', key)),
        })),
      );
      this.refusals.push({ op, error: error.split('\n')[0]!, keys: named });
      throw err;
    }
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

/** The L2 conformance fixture over `tier`, with the raw client and round trips counted on the cluster. */
export function clusterL2Fixture(cluster: Cluster, tier: ClusterProbeL2, prefix: string): L2Fixture {
  return {
    tier,
    prefix,
    raw: {
      get: (key) => cluster.get(key),
      set: async (key, value) => {
        await cluster.set(key, value);
      },
      pttl: (key) => cluster.pttl(key),
      // A script is cached per node: known when any master knows it.
      scriptExists: async (sha1) => {
        const answers = await Promise.all(
          cluster.nodes('master').map(async (node) => ((await node.script('EXISTS', sha1)) as number[])[0]),
        );
        return answers.includes(1);
      },
    },
    // Every command a Cluster sends goes through one of its nodes' `Redis` connections.
    roundTrips: async (during) => {
      const spy = vi.spyOn(Redis.prototype, 'sendCommand');
      try {
        await during();
        return spy.mock.calls.length;
      } finally {
        spy.mockRestore();
      }
    },
    cleanup: () => deleteOnMasters(cluster, prefix),
  };
}
