/**
 * Every ioredis connection the REST server opens, so `stop()` can close them all and none crashes the process.
 */
import { Redis, type RedisOptions } from 'ioredis';

/**
 * `shared` serves all non-blocking commands and reconnects; `blocking` (one blocking command) and `subscriber`
 * (one SSE stream) are single-use: when they drop, the request they serve fails instead of silently resuming.
 */
type ConnectionRole = 'shared' | 'blocking' | 'subscriber';

const CONNECT_TIMEOUT_MS = 5_000;
/** ioredis normally emits `end` promptly after `disconnect()`; this only guards against a wedged socket. */
const CLOSE_TIMEOUT_MS = 2_000;

function optionsFor(role: ConnectionRole): RedisOptions {
  const common: RedisOptions = {
    // Upstash speaks RESP2 (flat HGETALL, scores as strings); ioredis 6 would negotiate RESP3 by default.
    protocol: 2,
    // Integer replies as decimal strings, so they can be told apart from bulk strings (Buffers) and stay exact.
    stringNumbers: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    connectionName: `strata-upstash-${role}`,
    disableClientInfo: true,
  };
  if (role === 'shared') {
    return {
      ...common,
      lazyConnect: true,
      maxRetriesPerRequest: 2,
      retryStrategy: (times) => Math.min(times * 100, 2_000),
    };
  }
  return {
    ...common,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    autoResubscribe: false,
    autoResendUnfulfilledCommands: false,
  };
}

export class RedisConnections {
  readonly #open = new Set<Redis>();
  readonly #closing = new Map<Redis, Promise<void>>();
  #lastError: Error | undefined;

  constructor(private readonly url: string) {}

  /** The most recent connection-level error, for diagnostics. */
  get lastError(): Error | undefined {
    return this.#lastError;
  }

  open(role: ConnectionRole): Redis {
    const redis = new Redis(this.url, optionsFor(role));
    // Connection errors also reject the pending commands, which is where they are reported;
    // without a listener ioredis would emit them as unhandled 'error' events and crash the process.
    redis.on('error', (error: unknown) => {
      if (error instanceof Error) this.#lastError = error;
    });
    this.#open.add(redis);
    return redis;
  }

  /** Disconnects (pending commands reject) and resolves once the socket is gone. Safe to call twice. */
  close(redis: Redis): Promise<void> {
    const pending = this.#closing.get(redis);
    if (pending) return pending;
    this.#open.delete(redis);
    const closed = new Promise<void>((resolve) => {
      if (redis.status === 'end') {
        resolve();
        return;
      }
      // Between reconnect attempts there is no socket: disconnect() just cancels the retry and no 'end' follows.
      const socketless = redis.status === 'reconnecting';
      const timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
      redis.once('end', () => {
        clearTimeout(timer);
        resolve();
      });
      redis.disconnect();
      if (socketless) {
        clearTimeout(timer);
        resolve();
      }
    }).finally(() => this.#closing.delete(redis));
    this.#closing.set(redis, closed);
    return closed;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#open].map((redis) => this.close(redis)));
    await Promise.all([...this.#closing.values()]);
  }
}
