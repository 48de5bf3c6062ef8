import {
  createMemoryQueue,
  type InvalidationBus,
  type L2Tier,
  StrataError,
  type WriteQueue,
} from '@strata/core';
import { createRedisPubSubBus } from '../bus/redis-pubsub-bus.js';
import { createIoredisL2 } from '../l2/ioredis-l2.js';
import { createRedisStreamQueue } from '../queue/redis-stream-queue.js';

export type WriteBehindQueue = 'redis-stream' | 'memory';

export interface RedisTiersOptions {
  redisUrl?: string | undefined;
  upstash?: { url: string; token: string } | undefined;
  /** Which queue; undefined = none unless `needsQueue`, then the default for the Redis at hand. */
  writeBehind?: WriteBehindQueue | undefined;
  needsQueue: boolean;
  invalidationChannel: string;
  writeStream: string;
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
  const { redisUrl, upstash } = options;
  if (redisUrl !== undefined && upstash !== undefined) {
    throw new StrataError('INVALID_CONFIG', 'give redisUrl or upstash, not both', {
      details: { field: 'upstash' },
    });
  }
  const mode = options.writeBehind ?? (options.needsQueue ? defaultQueue(redisUrl) : undefined);
  if (mode === 'redis-stream' && redisUrl === undefined) {
    throw new StrataError('INVALID_CONFIG', "writeBehind 'redis-stream' needs redisUrl (Redis over TCP)", {
      details: { field: 'writeBehind' },
    });
  }
  const tiers: RedisTiers = {};
  if (mode === 'memory') tiers.queue = createMemoryQueue();
  if (redisUrl !== undefined) {
    tiers.l2 = createIoredisL2(redisUrl);
    tiers.bus = createRedisPubSubBus({ url: redisUrl, channel: options.invalidationChannel });
    if (mode === 'redis-stream')
      tiers.queue = createRedisStreamQueue({ url: redisUrl, stream: options.writeStream });
  } else if (upstash !== undefined) {
    // Its own entry point, so that only apps on Upstash load @upstash/redis (an optional peer).
    const { createUpstashL2, createUpstashSseBus } = await import('@strata/core/upstash');
    tiers.l2 = createUpstashL2(upstash);
    tiers.bus = createUpstashSseBus({ ...upstash, channel: options.invalidationChannel });
  }
  return tiers;
}

function defaultQueue(redisUrl: string | undefined): WriteBehindQueue {
  return redisUrl === undefined ? 'memory' : 'redis-stream';
}
