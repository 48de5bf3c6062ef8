import { Redis, type RedisConfigNodejs } from '@upstash/redis';
import { StrataError } from '../errors.js';
import { getManyByMget } from '../l2/get-many.js';
import { checkSendBy } from '../l2/send-by.js';
import type { L2Script, L2Tier } from '../l2/types.js';
import { ONE_FETCH } from './client.js';
import { clientHazards } from './client-hazards.js';

/**
 * Options for the client `createUpstashL2` builds: the `@upstash/redis` config without the two
 * settings the tier fixes (raw strings, one request per call).
 */
export type UpstashL2Config = Omit<RedisConfigNodejs, 'automaticDeserialization' | 'enableAutoPipelining'>;

type UpstashScript = ReturnType<Redis['createScript']>;

/**
 * The L2 over Upstash Redis REST, for Workers and any fetch runtime. Each call is exactly one HTTP
 * request whatever the number of keys, and none for an empty list: `getMany` = `MGET`, `run` =
 * `EVALSHA` (the script's text is sent again only when the server answers NOSCRIPT).
 *
 * Given `{ url, token, … }` it builds the client with `automaticDeserialization: false`,
 * `enableAutoPipelining: false`, one fetch per command (`retry: { retries: 0 }`, also for a `retry:
 * false` you pass, which the client takes as one retry: a fetch that throws after the server ran a
 * script would run it again; the engine's timeout and breaker handle failures instead; a `retry`
 * with retries you pass is kept, and said once through the logger) and, unless you pass it,
 * `responseEncoding: false`: replies come as JSON text rather than base64 that the client decodes
 * in JavaScript string by string (the larger part of a getMany's CPU). Every value Strata writes is
 * valid UTF-8 text (JSON escapes lone surrogates; binary codecs are base64), so nothing is lost;
 * a value mangled in Redis fails its envelope or codec check and is read as a miss. Given a
 * `Redis` you made, it works whatever that client's settings: every value Strata stores starts with
 * `~`, which is never JSON, so a client that JSON-parses replies hands it over unchanged. Its
 * retries are its own: when they would send a command again, the Strata built on the tier says so
 * once through its logger (build it with `retry: { retries: 0 }`). A `signal` it was built with
 * (an AbortSignal, not a function) makes each call fail once aborted, where the client would answer
 * "Aborted" as the command's reply.
 *
 * @example
 * import { createUpstashL2 } from '@strata/core/upstash';
 * const l2 = createUpstashL2({ url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN });
 * await l2.getMany(['strata:players:k1', 'strata:players:k2']); // [envelope | null, …]
 */
export function createUpstashL2(source: Redis | UpstashL2Config): L2Tier {
  // Upstash's console shows a rediss:// URL beside the REST one; the client's own refusal of it is no
  // StrataError and quotes the URL, password and all.
  if (!isClient(source) && !/^https?:\/\//i.test(source.url ?? ''))
    throw new StrataError(
      'INVALID_CONFIG',
      // No URL at all is an unset variable (no .env loaded, the devstack not started), not a wrong one.
      source.url === undefined || source.url === null
        ? 'UPSTASH_REDIS_REST_URL is not set: pass the REST URL, https://… (locally, the one the devstack prints)'
        : 'UPSTASH_REDIS_REST_URL must be the REST URL, https://…',
      { details: { field: 'url' } },
    );
  const redis = isClient(source)
    ? source
    : new Redis({
        responseEncoding: false,
        ...source,
        retry: source.retry || ONE_FETCH,
        automaticDeserialization: false,
        enableAutoPipelining: false,
      });
  return new UpstashL2(redis);
}

function isClient(source: Redis | UpstashL2Config): source is Redis {
  // Duck-typed: `instanceof` fails across copies of @upstash/redis and its per-platform entries.
  return typeof (source as { pipeline?: unknown }).pipeline === 'function';
}

class UpstashL2 implements L2Tier {
  readonly name = 'upstash';
  readonly warning: string | undefined;
  readonly #redis: Redis;
  readonly #scripts = new Map<L2Script, UpstashScript>();
  readonly #signal: AbortSignal | undefined;

  constructor(redis: Redis) {
    this.#redis = redis;
    ({ warning: this.warning, signal: this.#signal } = clientHazards(redis));
  }

  getMany(keys: readonly string[]): Promise<(string | null)[]> {
    // The array form: the client spreads it itself, once.
    return getManyByMget(this.name, keys, (k) => this.#replied(this.#redis.mget(k)));
  }

  run(script: L2Script, keys: readonly string[], args: readonly string[], sendBy?: number): Promise<unknown> {
    try {
      checkSendBy(this.name, script, sendBy);
    } catch (err) {
      return Promise.reject(err);
    }
    let loaded = this.#scripts.get(script);
    if (loaded === undefined) {
      loaded = this.#redis.createScript(script.source);
      this.#scripts.set(script, loaded);
    }
    return this.#replied(loaded.exec([...keys], [...args]));
  }

  /**
   * The reply, unless the client's own signal aborted: then it is the client's "Aborted", no reply.
   * Without a signal the call's own promise (no extra turn on every read).
   */
  #replied<T>(sent: Promise<T>): Promise<T> {
    const signal = this.#signal;
    if (!signal) return sent;
    return sent.then((reply) => {
      if (signal.aborted)
        throw new StrataError('L2_UNAVAILABLE', "upstash: the client's signal aborted", {
          cause: signal.reason,
        });
      return reply;
    });
  }

  /** Nothing to release: each call is a stateless HTTP request, and a client handed in stays the caller's. */
  async close(): Promise<void> {}
}
