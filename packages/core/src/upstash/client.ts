import { Redis } from '@upstash/redis';

/** Where an Upstash-backed bus sends its commands: a client you made, or the REST URL and token. */
export type UpstashBusSource = { redis: Redis } | { url: string; token: string };

/**
 * The client a bus uses. Built from URL + token like the L2's: raw strings (no automatic
 * deserialization), one request per call (no auto-pipelining) and no retries (the client's own back
 * off for seconds; the engine counts a failed publish or poll and tries again on the next one).
 * A client handed in is used as it is and never closed (nothing to close: it is stateless HTTP).
 */
export function upstashClient(source: UpstashBusSource): Redis {
  if ('redis' in source) return source.redis;
  return new Redis({
    url: source.url,
    token: source.token,
    automaticDeserialization: false,
    enableAutoPipelining: false,
    retry: false,
  });
}
