/**
 * How the engine's L2 calls map onto Redis arguments and replies: a TTL becomes `PX`, an INCR'd key
 * or a script's integer becomes a number.
 */
import { StrataError } from '../errors.js';

/**
 * The `PX` argument for `ttlMs`, or `undefined` for "no expiry" (0). Fractions round up so a live
 * entry never gets 0 (which would mean "never expire"). Throws INVALID_CONFIG for negative or
 * non-finite TTLs: callers check every entry of a batch before sending any of it.
 */
export function toPx(ttlMs: number, key: string): number | undefined {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs < 0) {
    throw new StrataError(
      'INVALID_CONFIG',
      `L2 ttlMs for ${JSON.stringify(key)} must be a finite number >= 0, got ${ttlMs}`,
      {
        details: { key, ttlMs },
      },
    );
  }
  return ttlMs === 0 ? undefined : Math.ceil(ttlMs);
}

/** A counter's reply to GET (string, or number when a client parsed it): 0 when absent. */
export function parseCounter(reply: unknown, key: string): number {
  if (reply === null || reply === undefined) return 0;
  if (typeof reply === 'number' && Number.isSafeInteger(reply)) return reply;
  if (typeof reply === 'string' && /^-?\d+$/.test(reply) && Number.isSafeInteger(Number(reply)))
    return Number(reply);
  throw new StrataError('DECODE_FAILED', `L2 counter ${JSON.stringify(key)} does not hold an integer`, {
    details: { key },
  });
}

/** An integer reply (DEL, INCR, PTTL); anything else means the server or a proxy misbehaved. */
export function integerReply(reply: unknown, what: string): number {
  const n = typeof reply === 'string' && /^-?\d+$/.test(reply) ? Number(reply) : reply;
  if (typeof n === 'number' && Number.isSafeInteger(n)) return n;
  throw new StrataError('L2_UNAVAILABLE', `L2 ${what}: expected an integer reply, got ${typeof reply}`, {
    details: { what },
  });
}
