import { TAG_LUA } from './tag-epoch.js';
import type { L2Script } from './types.js';

/**
 * Moves tags on: each takes the next tick of the app's tag clock (KEYS[1]), above any value it held
 * in the clock's epoch (a tag an older Strata INCR'd alone may be ahead of the clock: the clock
 * follows it). A clock that does not count (missing: evicted, flushed; an older Strata's scale)
 * starts a new epoch at the seed ARGV[1] (see tag-epoch.ts). KEYS = the clock, then the tags' keys.
 * Reply: the tags' new values. See `TagClock`.
 */
export const BUMP_TAGS: L2Script = {
  name: 'bump-tags',
  source: `${TAG_LUA}
local c = redis.call('INCR', KEYS[1])
if c < low then
  c = tonumber(ARGV[1])
  redis.call('SET', KEYS[1], ARGV[1])
end
local epoch = math.floor(c / span)
local out = {}
for i = 2, #KEYS do
  local held = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  if held >= c and math.floor(held / span) == epoch then
    c = held + 1
    redis.call('SET', KEYS[1], digits(c))
  end
  redis.call('SET', KEYS[i], digits(c))
  out[i - 1] = c
end
return out`,
};

/**
 * Reads the app's tag clock (KEYS[1]) and tags (KEYS after it) for `TagClock.read`. A clock that
 * does not count starts a new epoch at the seed ARGV[1]; a tag missing (never moved, or evicted)
 * or of another epoch is put at the clock's value (see tag-epoch.ts). Reply: the clock, then the
 * tags' values.
 */
export const READ_TAGS: L2Script = {
  name: 'read-tags',
  source: `${TAG_LUA}
local c = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if c < low then
  c = tonumber(ARGV[1])
  redis.call('SET', KEYS[1], ARGV[1])
end
local epoch = math.floor(c / span)
local out = {c}
for i = 2, #KEYS do
  local v = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  if v < low or math.floor(v / span) ~= epoch then
    v = c
    redis.call('SET', KEYS[i], digits(c))
  end
  out[i] = v
end
return out`,
};
