import { StrataError } from '@strata/core';
import { CircuitBreaker } from '@strata/core/driver';
import { Redis, type RedisOptions } from 'ioredis';
import { withStrataRetry } from './reconnect-delay.js';
import { type IoredisReplicaL2, ReplicaL2, type ReplicaReadStats } from './replica-l2.js';

export type { IoredisReplicaL2, ReplicaReadStats };

/** For an L2 that reads from a replica of its primary (`createIoredisL2(primary, { replica })`). */
export interface IoredisReplicaL2Options {
  /** The replica (`redis-server --replicaof` the primary): a URL it opens and owns, or a `Redis` it borrows. */
  replica: Redis | string;
  /**
   * How long a replica read may take before the read goes to the primary instead (ms). Default 250:
   * well inside Strata's L2 timeout (1 s by default), which then still has room for the primary.
   */
  readTimeoutMs?: number;
  /** Consecutive replica failures after which reads skip it for `cooldownMs`. Default 5, 5,000 ms. */
  breaker?: { failureThreshold?: number; cooldownMs?: number };
  /** ioredis options for the connections opened from URLs (`protocol: 2` is forced, as for the primary). */
  redisOptions?: RedisOptions;
  /** Hears each replica failure (the read then went to the primary). createStrata logs them as warnings. */
  onReplicaError?: (error: unknown) => void;
}

/** Builds the replica L2: validates first, so a refusal opens nothing. */
export function openReplicaL2(primary: Redis | string, options: IoredisReplicaL2Options): IoredisReplicaL2 {
  const readTimeoutMs = options.readTimeoutMs ?? 250;
  if (!Number.isFinite(readTimeoutMs) || readTimeoutMs <= 0) {
    throw new StrataError('INVALID_CONFIG', 'ioredis L2: readTimeoutMs must be a number of ms > 0', {
      details: { field: 'readTimeoutMs' },
    });
  }
  const breaker = new CircuitBreaker({
    failureThreshold: options.breaker?.failureThreshold ?? 5,
    coolDownMs: options.breaker?.cooldownMs ?? 5_000,
  });
  const open = (url: string, role: 'primary' | 'replica') => {
    const redis = new Redis(
      url,
      withStrataRetry({
        maxRetriesPerRequest: 0,
        // A replica that is down answers nothing: reads go to the primary at once, not after a queue.
        ...(role === 'replica' && { enableOfflineQueue: false }),
        ...options.redisOptions,
        protocol: 2,
      }),
    );
    // Failures reach callers as rejected commands (the replica's: as reads from the primary).
    redis.on('error', () => {});
    return redis;
  };
  const owned = { primary: typeof primary === 'string', replica: typeof options.replica === 'string' };
  const primaryClient = typeof primary === 'string' ? open(primary, 'primary') : primary;
  const replicaClient =
    typeof options.replica === 'string' ? open(options.replica, 'replica') : options.replica;
  return new ReplicaL2(primaryClient, replicaClient, owned, {
    readTimeoutMs,
    breaker,
    onReplicaError: options.onReplicaError,
  });
}
