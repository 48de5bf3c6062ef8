import type { Redis } from 'ioredis';

/**
 * The last connection error of an owned client, to tell why a command failed: with
 * `maxRetriesPerRequest: 0` ioredis rejects a command made while the connection is down with only
 * "Reached the max retries per request limit (which is 0)", which names neither the server nor the cause.
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
   * `err` as it is while the connection is up; else an Error naming the server and the connection's
   * last error, `err` as its cause.
   * @example throw errors.explain(err); // Redis at 127.0.0.1:6379 is unreachable (connect ECONNREFUSED 127.0.0.1:6379)
   */
  explain(err: unknown): unknown {
    const last = this.#last;
    if (last === undefined || this.redis.status === 'ready') return err;
    const { host, port, path } = this.redis.options;
    return new Error(`Redis at ${path ?? `${host}:${port}`} is unreachable (${last.message})`, {
      cause: err,
    });
  }
}
