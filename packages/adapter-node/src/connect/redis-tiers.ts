import {
  createMemoryQueue,
  type InvalidationBus,
  isStrataError,
  type L2Tier,
  StrataError,
  type WriteQueue,
} from '@strata/core';
import { withTimeout } from '@strata/core/driver';
import { Redis } from 'ioredis';
import { planBucketStreams } from '../redis-tcp/bucket-layout.js';
import { BucketedStreamQueue } from '../redis-tcp/bucketed-queue.js';
import { createRedisPubSubBus } from '../redis-tcp/bus.js';
import { createIoredisL2 } from '../redis-tcp/l2.js';
import { createRedisStreamQueue } from '../redis-tcp/queue.js';
import { withStrataRetry } from '../redis-tcp/reconnect-delay.js';
import { StreamQueue } from '../redis-tcp/stream-queue.js';
import { ConnectionErrors } from '../redis-tcp/unreachable.js';
import { connectClusterTiers, type RedisClusterConfig, refuseNamedStream } from './cluster-tiers.js';

export type WriteBehindQueue = 'redis-stream' | 'memory';

export interface RedisTiersOptions {
  redisUrl?: string | undefined;
  /** A replica of `redisUrl` for L2 reads (read-your-writes). */
  redisReplicaUrl?: string | undefined;
  /** Hears a replica read that failed (it went to the primary). */
  onReplicaError?: ((error: unknown) => void) | undefined;
  redisCluster?: RedisClusterConfig | undefined;
  upstash?: { url: string; token: string } | undefined;
  /** Which queue; undefined = none unless `needsQueue`, then the default for the Redis at hand. */
  writeBehind?: WriteBehindQueue | undefined;
  needsQueue: boolean;
  invalidationChannel: string;
  /** The app's keyPrefix: names the Redis Stream queue's stream, group and dead letters. */
  keyPrefix: string;
  /** `config.buckets` (Redis Cluster key layout). */
  buckets?: number | undefined;
  /** Overrides the stream name `<keyPrefix>:writes`. */
  writeStream?: string | undefined;
  /** The Redis Stream queue takes writes a Redis restart would lose (no AOF). */
  allowVolatileQueue?: boolean | undefined;
  /** The Redis Stream queue takes writes on a Redis that evicts keys. */
  allowEvictingRedis?: boolean | undefined;
}

export interface RedisTiers {
  l2?: L2Tier;
  bus?: InvalidationBus;
  queue?: WriteQueue;
}

/**
 * L2, bus and write queue over whichever Redis is configured: TCP (ioredis) or Upstash REST. Each
 * opens and owns its connections (with error listeners) and `Strata.close()` closes them.
 */
export async function connectRedisTiers(options: RedisTiersOptions): Promise<RedisTiers> {
  const { redisUrl, upstash, redisCluster } = options;
  if (redisUrl !== undefined && upstash !== undefined) {
    throw new StrataError('INVALID_CONFIG', 'give redisUrl or upstash, not both', {
      details: { field: 'upstash' },
    });
  }
  if (redisCluster !== undefined && (redisUrl !== undefined || upstash !== undefined)) {
    throw new StrataError('INVALID_CONFIG', 'give redisCluster alone, not with redisUrl or upstash', {
      details: { field: 'redisCluster' },
    });
  }
  if (options.redisReplicaUrl !== undefined && redisUrl === undefined) {
    throw new StrataError('INVALID_CONFIG', 'redisReplicaUrl is a replica of redisUrl: give redisUrl too', {
      details: { field: 'redisReplicaUrl' },
    });
  }
  if (redisCluster !== undefined) {
    const mode = options.writeBehind ?? (options.needsQueue ? 'redis-stream' : undefined);
    return connectClusterTiers(redisCluster, { ...options, queue: mode });
  }
  const mode = options.writeBehind ?? (options.needsQueue ? defaultQueue(redisUrl) : undefined);
  if (mode === 'redis-stream' && redisUrl === undefined) {
    throw new StrataError(
      'INVALID_CONFIG',
      "writeBehind.queue 'redis-stream' needs redisUrl (Redis over TCP)",
      {
        details: { field: 'writeBehind.queue' },
      },
    );
  }
  const tiers: RedisTiers = {};
  if (mode === 'memory') tiers.queue = createMemoryQueue();
  if (redisUrl !== undefined) {
    // The queue first: it validates its options before it opens anything, so a refusal leaves
    // nothing open behind it.
    if (mode === 'redis-stream' && (options.buckets ?? 1) > 1) {
      refuseNamedStream(options.writeStream);
      const plans = planBucketStreams(
        {
          keyPrefix: options.keyPrefix,
          allowVolatile: options.allowVolatileQueue === true,
          allowEvicting: options.allowEvictingRedis === true,
        },
        options.buckets!,
        false,
      );
      const redis = new Redis(redisUrl, withStrataRetry({ maxRetriesPerRequest: 0, protocol: 2 }));
      // Failures reach callers as rejected commands, told with the connection's own error.
      tiers.queue = new BucketedStreamQueue(redis, 'owned', plans, new ConnectionErrors(redis));
    } else if (mode === 'redis-stream') {
      tiers.queue = createRedisStreamQueue({
        url: redisUrl,
        keyPrefix: options.keyPrefix,
        ...(options.writeStream !== undefined && { stream: options.writeStream }),
        allowVolatile: options.allowVolatileQueue === true,
        allowEvicting: options.allowEvictingRedis === true,
      });
    }
    tiers.l2 =
      options.redisReplicaUrl === undefined
        ? createIoredisL2(redisUrl)
        : createIoredisL2(redisUrl, {
            replica: options.redisReplicaUrl,
            onReplicaError: options.onReplicaError,
          });
    tiers.bus = createRedisPubSubBus({ url: redisUrl, channel: options.invalidationChannel });
  } else if (upstash !== undefined) {
    // Its own entry point, so that only apps on Upstash load @upstash/redis (an optional peer).
    const { createUpstashL2, createUpstashSseBus } = await import('@strata/core/upstash');
    tiers.l2 = createUpstashL2(upstash);
    tiers.bus = createUpstashSseBus({ ...upstash, channel: options.invalidationChannel });
  }
  return tiers;
}

/**
 * Fails start-up (INVALID_CONFIG) when the Redis Stream queue's Redis would lose acknowledged
 * writes on a restart, so a misconfiguration shows at boot, not at the first write-behind `set`.
 * A Redis that is down or slow only warns: L2 and reads work without it, as they always did, and
 * the first `enqueue` asks again.
 */
export async function checkQueueDurability(
  queue: WriteQueue | undefined,
  timeoutMs: number,
  warn: (message: string, error: unknown) => void,
): Promise<void> {
  if (!(queue instanceof StreamQueue || queue instanceof BucketedStreamQueue)) return;
  try {
    await withTimeout(queue.checkDurability(), timeoutMs, 'Redis Stream queue durability check');
  } catch (error) {
    if (isStrataError(error, 'INVALID_CONFIG')) throw error;
    warn(
      'Redis Stream queue: durability not checked at start-up; the first write-behind write checks it',
      error,
    );
  }
}

function defaultQueue(redisUrl: string | undefined): WriteBehindQueue {
  return redisUrl === undefined ? 'memory' : 'redis-stream';
}
