/**
 * How L2 entries map onto Redis arguments and replies, shared by the Redis-backed tiers that core
 * ships: a TTL becomes `PX`, a `PTTL` reply becomes `ttlMs`, an INCR'd key becomes a number.
 */
import { StrataError } from '../errors.js';
import type { L2Entry } from './types.js';

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

/**
 * An entry from a value and its `PTTL` reply: -1 (no expiry) -> ttlMs 0; -2 (gone) -> null. A PTTL
 * of 0 means the key expires within this millisecond: treated as gone, since ttlMs 0 would tell the
 * upper tiers "never expires".
 */
export function entryFromPttl(value: string, pttl: number): L2Entry | null {
  if (pttl === -1) return { value, ttlMs: 0 };
  return pttl > 0 ? { value, ttlMs: pttl } : null;
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
