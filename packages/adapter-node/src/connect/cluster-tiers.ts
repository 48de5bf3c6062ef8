import { createMemoryQueue, type Duration, StrataError } from '@strata/core';
import { toMs } from '@strata/core/driver';
import { Cluster, type ClusterNode, type ClusterOptions } from 'ioredis';
import { planBucketStreams } from '../redis-tcp/bucket-layout.js';
import { BucketedStreamQueue } from '../redis-tcp/bucketed-queue.js';
import { openClusterBus } from '../redis-tcp/bus.js';
import { ClusterL2 } from '../redis-tcp/cluster-l2.js';
import { hashSlot, requireHashTag } from '../redis-tcp/cluster-slots.js';
import { defaultWriteStream, openStreamQueue, planStreamQueue } from '../redis-tcp/queue.js';
import { CLUSTER_REPLICA_ACK, replicaAck } from '../redis-tcp/wait-replicas.js';
import type { RedisTiers, WriteBehindQueue } from './redis-tiers.js';

/** `createStrata`'s `redisCluster`: L2, bus and write queue on a Redis Cluster. */
export interface RedisClusterConfig {
  /** Seed nodes, any of the cluster's (the client learns the rest): `{ host, port }`, 'host:port' or a port. */
  nodes: readonly ClusterNode[];
  /** More ioredis `Cluster` options (e.g. `redisOptions: { password }`); `protocol: 2` is always forced. */
  options?: ClusterOptions;
  /**
   * How many replicas every L2 write and every queued write-behind write waits for before Strata
   * takes it as done (`WAIT`, same connection, same pipeline). Default 1: a failover onto that
   * replica loses nothing acknowledged. 0: replication stays asynchronous (faster, can lose the
   * last writes of a crashed master).
   */
  replicas?: number;
  /** How long a write waits for those replicas; fewer by then fails the write. Default 250 ms; keep it below half of `timeouts.l2` (a write refused after MOVED is tried again within it). */
  replicaTimeout?: Duration;
}

export interface ClusterTierOptions {
  keyPrefix: string;
  /** `config.buckets`: more than one spreads the app over a slot per bucket (Strata adds the hash tags). */
  buckets?: number | undefined;
  invalidationChannel: string;
  queue: WriteBehindQueue | undefined;
  writeStream?: string | undefined;
  allowVolatileQueue?: boolean | undefined;
  allowEvictingRedis?: boolean | undefined;
}

/**
 * L2, bus and queue over a Redis Cluster, each with a Cluster client of its own (closed by
 * `Strata.close()`). Strata's scripts name several keys per call (the app's tick with a schema's
 * rows), which a Cluster runs only when they share a slot: with one bucket (`config.buckets`) the
 * keyPrefix must carry a hash tag, and the write stream the same one (write-behind writes queue
 * inside the L2 script); with more, each bucket is a slot of its own (`{keyPrefix#b}`). Checked
 * before anything is opened: INVALID_CONFIG.
 */
export function connectClusterTiers(config: RedisClusterConfig, options: ClusterTierOptions): RedisTiers {
  const { keyPrefix } = options;
  if (!Array.isArray(config.nodes) || config.nodes.length === 0) {
    throw new StrataError('INVALID_CONFIG', 'redisCluster.nodes: give at least one node of the cluster', {
      details: { field: 'redisCluster.nodes' },
    });
  }
  const buckets = options.buckets ?? 1;
  // Each bucket's keys carry their own tag (`{keyPrefix#b}`, added by Strata), its write stream too.
  if (buckets > 1) refuseNamedStream(options.writeStream);
  else requireHashTag('Strata on a Redis Cluster: keyPrefix', 'keyPrefix', keyPrefix);
  const stream = options.writeStream ?? defaultWriteStream(keyPrefix);
  if ((options.buckets ?? 1) === 1 && hashSlot(stream) !== hashSlot(keyPrefix)) {
    throw new StrataError(
      'INVALID_CONFIG',
      `Strata on a Redis Cluster: writeStream ${JSON.stringify(stream)} must carry the keyPrefix's hash tag ` +
        `(${JSON.stringify(keyPrefix)}): write-behind writes are queued inside the L2 script, in one slot`,
      { details: { field: 'writeStream' } },
    );
  }
  const timeoutMs =
    config.replicaTimeout === undefined
      ? undefined
      : toMs(config.replicaTimeout, 'redisCluster.replicaTimeout');
  const ack = replicaAck('redisCluster', config.replicas, timeoutMs, CLUSTER_REPLICA_ACK);
  const queueOptions = {
    keyPrefix,
    allowVolatile: options.allowVolatileQueue === true,
    allowEvicting: options.allowEvictingRedis === true,
    replicas: ack.replicas,
    replicaTimeoutMs: ack.timeoutMs,
  };
  const plans =
    options.queue === 'redis-stream' && buckets > 1
      ? planBucketStreams(queueOptions, buckets, true)
      : undefined;
  const plan =
    options.queue === 'redis-stream' && buckets === 1
      ? planStreamQueue(
          {
            keyPrefix,
            stream,
            allowVolatile: options.allowVolatileQueue === true,
            allowEvicting: options.allowEvictingRedis === true,
            replicas: ack.replicas,
            replicaTimeoutMs: ack.timeoutMs,
          },
          true,
        )
      : undefined;
  const open = (): Cluster => {
    const cluster = new Cluster([...config.nodes], {
      ...config.options,
      redisOptions: { maxRetriesPerRequest: 0, ...config.options?.redisOptions, protocol: 2 },
    });
    // Failures reach callers as rejected commands, not as "Unhandled error event" prints.
    cluster.on('error', () => {});
    return cluster;
  };
  const tiers: RedisTiers = {};
  if (options.queue === 'memory') tiers.queue = createMemoryQueue();
  if (plan !== undefined) tiers.queue = openStreamQueue(open(), 'owned', plan);
  if (plans !== undefined) tiers.queue = new BucketedStreamQueue(open(), 'owned', plans);
  tiers.l2 = new ClusterL2(open(), 'owned', ack);
  tiers.bus = openClusterBus(open(), 'owned', options.invalidationChannel);
  return tiers;
}

/**
 * With several buckets each bucket's stream is named after it (`{keyPrefix#b}:writes`): a stream
 * named by the app would be one slot, which the scripts of the other buckets cannot reach.
 */
export function refuseNamedStream(writeStream: string | undefined): void {
  if (writeStream === undefined) return;
  throw new StrataError(
    'INVALID_CONFIG',
    'writeStream: with more than one bucket each bucket has its own stream ({keyPrefix#b}:writes): leave it out',
    { details: { field: 'writeStream' } },
  );
}
