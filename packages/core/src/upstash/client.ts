import { Redis } from '@upstash/redis';

/** Where an Upstash-backed bus sends its commands: a client you made, or the REST URL and token. */
export type UpstashBusSource = { redis: Redis } | { url: string; token: string };

/**
 * `retry` for every @upstash/redis client Strata builds: one fetch per command. The client's
 * `retry: false` is not that: 1.39 maps it to one retry, and it sends the request again when the
 * fetch throws, which is also when the connection dropped while the reply was on its way: the server
 * ran the command, and runs it twice (a script's INCR, an XADD, a refresh lease's SET NX taken and
 * then answered "held by another"; packages/core/test/upstash-lost-reply.test.ts). Each failure is
 * the engine's to handle (timeout, breaker, an unknown outcome), never a resend.
 */
export const ONE_FETCH = { retries: 0 } as const;

/**
 * The client a bus uses. Built from URL + token like the L2's: raw strings (no automatic
 * deserialization), one request per call (no auto-pipelining) and one fetch per command (ONE_FETCH;
 * the engine counts a failed publish or poll and tries again on the next one). A client handed in
 * is used as it is and never closed (nothing to close: it is stateless HTTP); a publish it sends
 * twice is an invalidation heard twice, which drops nothing more.
 */
export function upstashClient(source: UpstashBusSource): Redis {
  if ('redis' in source) return source.redis;
  return new Redis({
    url: source.url,
    token: source.token,
    automaticDeserialization: false,
    enableAutoPipelining: false,
    retry: ONE_FETCH,
  });
}
