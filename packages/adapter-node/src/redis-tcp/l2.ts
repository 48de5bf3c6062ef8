import { type L2Tier, StrataError } from '@strata/core';
import { checkSendBy, type L2Script } from '@strata/core/driver';
import { type Cluster, Redis, type RedisOptions } from 'ioredis';
import { ClusterL2 } from './cluster-l2.js';
import { isCluster } from './cluster-slots.js';
import { WriteCoalescer } from './coalesce-writes.js';
import { sendEvalsha } from './evalsha-command.js';
import { readMget } from './mget-command.js';
import { quitConnection } from './quit-connection.js';
import { readyBy } from './ready-by.js';
import { withStrataRetry } from './reconnect-delay.js';
import { type IoredisReplicaL2, type IoredisReplicaL2Options, openReplicaL2 } from './replica-options.js';
import { scriptSha } from './script-sha.js';
import { ConnectionErrors } from './unreachable.js';
import { CLUSTER_REPLICA_ACK, replicaAck } from './wait-replicas.js';

/** For an L2 over a Redis Cluster. */
export interface IoredisClusterL2Options {
  /**
   * How many replicas must have a script's writes before `run` resolves (`WAIT`, on the same
   * connection, in the same pipeline). Default 1: a failover onto a replica then loses no write
   * Strata took as done. 0 skips it (replication stays asynchronous).
   */
  replicas?: number;
  /** How long `WAIT` may block (ms); fewer replicas by then rejects with L2_UNAVAILABLE. Default 250. */
  replicaTimeoutMs?: number;
}

/**
 * The L2 over Redis TCP with ioredis, for long-lived Node processes. Each call is one round trip
 * whatever the number of keys: `getMany` = `MGET`, `run` = `EVALSHA` (the script's text only when
 * a server answers NOSCRIPT, e.g. after a restart).
 *
 * Given a URL it opens and owns its connection (`close()` quits it), with `protocol: 2` forced
 * (ioredis 6 defaults to RESP3) and `maxRetriesPerRequest: 0` unless you say otherwise: while Redis
 * is unreachable, queued commands fail at the first failed reconnect instead of waiting through
 * twenty, so the engine falls back to Postgres quickly and a timed-out write is not replayed
 * minutes later. Given a `Redis` you made, it borrows it and never closes it; MGET and the scripts'
 * replies (integers, bulk strings, flat arrays) read the same in RESP2 and RESP3.
 *
 * Given an ioredis `Cluster` (borrowed too), `getMany` sends one MGET per hash slot its keys touch,
 * and every script call's keys must share a slot: give Strata a keyPrefix with a hash tag, e.g.
 * `{shop}`. Writes then wait for a replica (`replicas`, default 1); see docs/redis-cluster.md.
 *
 * Given a primary and `{ replica }` (URLs, or `Redis` clients you made), reads go to the replica
 * while it has applied this instance's writes, by replication offset (read-your-writes for this
 * instance; see `ReplicaL2` and docs/redis-replicas.md), and to the primary otherwise.
 *
 * @example
 * const l2 = createIoredisL2('redis://127.0.0.1:6379');
 * await l2.getMany(['strata:players:k1']); // [envelope | null]
 * await l2.close();
 */
export function createIoredisL2(redis: Redis): L2Tier;
export function createIoredisL2(cluster: Cluster, options?: IoredisClusterL2Options): L2Tier;
export function createIoredisL2(url: string, options?: RedisOptions): L2Tier;
export function createIoredisL2(primary: Redis | string, options: IoredisReplicaL2Options): IoredisReplicaL2;
export function createIoredisL2(
  source: Redis | Cluster | string,
  options: RedisOptions | IoredisClusterL2Options | IoredisReplicaL2Options = {},
): L2Tier {
  if ('replica' in options && options.replica !== undefined) {
    if (typeof source !== 'string' && isCluster(source)) {
      throw new StrataError('INVALID_CONFIG', 'ioredis L2: replica is for a single primary, not a Cluster', {
        details: { field: 'replica' },
      });
    }
    return openReplicaL2(source, options);
  }
  if (typeof source !== 'string') {
    if (!isCluster(source)) return new IoredisL2(source, 'borrowed');
    const { replicas, replicaTimeoutMs } = options as IoredisClusterL2Options;
    return new ClusterL2(
      source,
      'borrowed',
      replicaAck('ioredis L2', replicas, replicaTimeoutMs, CLUSTER_REPLICA_ACK),
    );
  }
  const redis = new Redis(
    source,
    withStrataRetry({ maxRetriesPerRequest: 0, ...(options as RedisOptions), protocol: 2 }),
  );
  // Failures reach callers as rejected commands, told with the connection's own error.
  return new IoredisL2(redis, 'owned', new ConnectionErrors(redis));
}

class IoredisL2 implements L2Tier {
  readonly name = 'ioredis';
  readonly #redis: Redis;
  readonly #owned: boolean;
  readonly #coalesce: WriteCoalescer;
  #closing: Promise<void> | undefined;

  readonly #errors: ConnectionErrors | undefined;

  /** `owned`: opened here, so close() quits it; a `borrowed` one stays open (and its errors are the caller's). */
  constructor(redis: Redis, connection: 'owned' | 'borrowed', errors?: ConnectionErrors) {
    this.#redis = redis;
    this.#owned = connection === 'owned';
    this.#coalesce = new WriteCoalescer(redis);
    this.#errors = errors;
  }

  getMany(keys: readonly string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return Promise.resolve([]);
    this.#coalesce.hold();
    // The command built here: no spread, and no copy by ioredis' `flat()`; its own promise settles
    // with the checked values or the explained failure: no `.then` per read (see mget-command.ts).
    return readMget(this.#redis, keys, this.name, this.#errors);
  }

  async run(
    script: L2Script,
    keys: readonly string[],
    args: readonly string[],
    sendBy?: number,
  ): Promise<unknown> {
    const waiting = readyBy(this.#redis, this.name, script, sendBy);
    if (waiting) await waiting.catch((err: unknown) => Promise.reject(this.#errors?.explain(err) ?? err));
    this.#coalesce.hold();
    try {
      return await sendEvalsha(this.#redis, scriptSha(script), keys, args);
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('NOSCRIPT')))
        throw this.#errors?.explain(err) ?? err;
      checkSendBy(this.name, script, sendBy);
      return this.#redis.eval(script.source, keys.length, ...keys, ...args);
    }
  }

  /** Quits an owned connection (once, however often it is called); a borrowed one stays open. */
  close(): Promise<void> {
    this.#closing ??= this.#owned ? quitConnection(this.#redis) : Promise.resolve();
    return this.#closing;
  }
}
