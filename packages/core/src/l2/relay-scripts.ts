import type { L2Script } from './types.js';

/*
 * The change relay's shared state (see capture/relay.ts), one app-wide set of keys: the cursor of
 * the change log, when it last moved, and a short lease so that one instance at a time reads the
 * log. KEYS = lease, cursor, cursor-moved-at for all three scripts.
 */

/**
 * Takes the lease for ARGV[1] (PX ARGV[2]) when nobody holds it and the cursor did not move within
 * ARGV[4] ms before ARGV[3] (now, ms since the epoch; 0 = however recently). Reply {status, when
 * the cursor last moved (0 = never), the cursor}: status 1 when taken (the cursor left out when
 * none is stored yet), 0 when another instance holds the lease, -1 when the cursor moved too
 * recently for a read to be due. When the cursor moved by the storer's clock, so a moment more than
 * ARGV[4] ms after ARGV[3] is a clock running ahead of this one, not a recent move: the read is due.
 * Before, one pass by an instance whose clock ran a minute ahead held every other instance's polls
 * back for that minute (reliability/test/probe-capture-relay-skew.test.ts).
 */
export const RELAY_TAKE: L2Script = {
  name: 'relay-take',
  source: `local at = tonumber(redis.call('GET', KEYS[3]) or '') or 0
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, at} end
local since, interval = tonumber(ARGV[3]) - at, tonumber(ARGV[4])
if interval > 0 and since < interval and since > -interval then return {-1, at} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
local cursor = redis.call('GET', KEYS[2])
if cursor then return {1, at, cursor} end
return {1, at}`,
};

/**
 * Stores the cursor ARGV[2] (and ARGV[3], when the read that found it began, as when it moved) and releases the lease, only
 * while ARGV[1] still holds the lease: a holder whose lease ran out meanwhile must not move the
 * cursor back under the next one. Reply: 1 stored, 0 not (the lease is gone).
 */
export const RELAY_STORE: L2Script = {
  name: 'relay-store',
  source: `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[3], ARGV[3])
redis.call('DEL', KEYS[1])
return 1`,
};

/** Releases the lease if ARGV[1] holds it (after a failed read). Reply: 1 released, 0 not held. */
export const RELAY_RELEASE: L2Script = {
  name: 'relay-release',
  source: `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1`,
};
