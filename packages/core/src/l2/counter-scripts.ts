import type { L2Script } from './types.js';

/**
 * Raises a version counter (KEYS[1]) to ARGV[1] unless it is already there or beyond. Reply: the
 * counter's value afterwards. With KEYS[2] (the mark RESERVE_THROUGH keeps) and ARGV[2] (the epoch
 * ARGV[1] was taken from): -1 and nothing done when the mark is at that epoch or later (a
 * write-through writer of the app found no counter after that epoch started: take a new one).
 */
export const SEED_COUNTER: L2Script = {
  name: 'seed-counter',
  source: `if KEYS[2] and tonumber(redis.call('GET', KEYS[2]) or '-1') >= tonumber(ARGV[2]) then return -1 end
local c = tonumber(redis.call('GET', KEYS[1]) or '-1')
local floor = tonumber(ARGV[1])
if c < floor then
  redis.call('SET', KEYS[1], string.format('%.0f', floor))
  c = floor
end
return c`,
};

/**
 * A version counter's value (KEYS[1]), '' when it is missing: compared with the mark Postgres keeps
 * of it (see `checkCounters`). A script, not a GET, so that it runs as every other counter access
 * does (sendBy, the tier's breaker, the bucket's slot).
 */
export const COUNTER_VALUE: L2Script = {
  name: 'counter-value',
  source: `return redis.call('GET', KEYS[1]) or ''`,
};
