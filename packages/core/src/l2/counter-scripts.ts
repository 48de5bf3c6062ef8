import { CAME_BACK } from './marks-script.js';
import type { L2Script } from './types.js';

/**
 * Raises a version counter (KEYS[1]) to ARGV[1] unless it is already there or beyond. Reply: the
 * counter's value afterwards. With KEYS[2] (the mark RESERVE_THROUGH keeps) and ARGV[2] (the epoch
 * ARGV[1] was taken from): -1 and nothing done when the mark is at that epoch or later (a
 * write-through writer of the app found no counter after that epoch started: take a new one).
 * With KEYS[3] (a pending index of the counter's bucket), every entry in it gets a come-back mark
 * (see `came_back` in MARKS) in the same step: the app takes the table from another app, whose
 * writes may have superseded the entries unmarked (another key namespace); a later partial set of
 * the app, numbered in the new epoch, then carries them only beneath its own columns. With ARGV[3]
 * '1', a missing counter is left missing (-2, nothing done): a write-through instance moves only
 * the counters its app has (an app with none reserves nothing, see `ThroughOrder`).
 */
export const SEED_COUNTER: L2Script = {
  name: 'seed-counter',
  source: `${CAME_BACK}
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then return -2 end
if KEYS[2] and tonumber(redis.call('GET', KEYS[2]) or '-1') >= tonumber(ARGV[2]) then return -1 end
if KEYS[3] then came_back(KEYS[3]) end
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
