import { isStrataError } from '@strata/core';
import type { Redis } from 'ioredis';

/**
 * The last connection error of an owned client, to tell why a command failed: with
 * `maxRetriesPerRequest: 0` ioredis rejects a command made while the connection is down with only
 * "Reached the max retries per request limit (which is 0). Refer to "maxRetriesPerRequest" option",
 * which names neither the server nor the cause, and points at an option that is not the problem.
 * Used by every connection Strata opens itself: the L2, the Redis Stream queue (and its INFO
 * check), the pub/sub bus.
 */
export class ConnectionErrors {
  #last: Error | undefined;

  /** Listens to `redis`'s errors (also keeps ioredis from printing each failed reconnect as unhandled). */
  constructor(readonly redis: Redis) {
    redis.on('error', (err: Error) => {
      this.#last = err;
    });
    redis.on('ready', () => {
      this.#last = undefined;
    });
  }

  /**
   * `err` as it is while the connection is up (or when it is Strata's own refusal); else an Error naming the server and the connection's last error, `err` as its cause.
   * @example throw errors.explain(err); // Redis at 127.0.0.1:6379 is unreachable (connect ECONNREFUSED 127.0.0.1:6379)
   */
  explain(err: unknown): unknown {
    const last = this.#last;
    if (last === undefined || this.redis.status === 'ready') return err;
    // Strata's own refusals (a closed queue, INVALID_CONFIG) pass as they are; readyBy's
    // L2_UNAVAILABLE ("the connection was not back by the deadline") is about the connection.
    if (isStrataError(err) && !isStrataError(err, 'L2_UNAVAILABLE')) return err;
    return new Error(`Redis at ${redisAddress(this.redis)} is unreachable (${last.message})`, {
      cause: err,
    });
  }

  /** `.catch(errors.rethrow)`: rejects with `explain(err)`. */
  readonly rethrow = (err: unknown): never => {
    throw this.explain(err);
  };
}

/** `work`'s failure told by `errors` (see `ConnectionErrors.explain`); as it is without one (a borrowed client). */
export function told<T>(work: Promise<T>, errors: ConnectionErrors | undefined): Promise<T> {
  return errors === undefined ? work : work.catch(errors.rethrow);
}

/** host:port (or the socket path, or the Sentinel group) of a connection: never its credentials. */
export function redisAddress(redis: Redis): string {
  const { host = 'localhost', port = 6379, path, sentinels, name } = redis.options;
  if (path) return path;
  if (sentinels && sentinels.length > 0) return `Sentinel master ${name ?? 'mymaster'}`;
  return `${host}:${port}`;
}
