import { MARKS } from './marks-script.js';
import type { L2Script } from './types.js';

/**
 * A schema's pending index (write-behind writes acknowledged, not flushed yet: ORDERED_PUT keeps it,
 * a flush's PUT empties it) for a search to lay over Postgres: a hash from row key to
 * `{version};{kind};{row}`, and for a row with client defaults, their names (`+{row key}`, see
 * `named` in MARKS), for a set carrying queued writes beneath its own columns, those writes
 * (`<{row key}`, see engine/pending-beneath.ts). KEYS = the index. ARGV[1] says what to do:
 * - `peek`, KEYS after the index = row keys: per key its value and its index entry (nil for none),
 *   read together (what a partial write merges over, see `partial-rows.ts`), a row entry with named
 *   defaults as `{version};d;{names};{row}`; with ARGV[2] `marks`,
 *   an entry a write-through write or a transaction reserved a version above (its mark `#{row key}`,
 *   see RESERVE_THROUGH) reads `{version};c;{mark};{entry}` (carried: that write supersedes it and
 *   carries it, if it commits), or `{version};b;{mark};{entry}` under a come-back mark (`?{row key}`,
 *   see GENERATION: writes that did not see the entry's shape may have superseded it); with ARGV[2]
 *   `under`, per key a third value: the writes its entry's set carries beneath it (`<{row key}`);
 * - `read`, ARGV[2] = the most fields wanted: the flat list field, value, … (entries, marks and
 *   names as stored), or the number of fields when there are more (nothing else is read);
 * - `done`, then per entry field, version: takes each out (and its marks, names and writes beneath) while it names that version
 *   or an older one (its write was flushed, superseded, withdrawn or dead-lettered). Reply: the count removed;
 * - `put`, then per entry field, value, names, writes beneath ('' for none): puts each in unless it holds one at least as new (a
 *   Redis reset lost it), under a come-back mark (`?{row key}`, its version + 1: a write reserved
 *   after the reset found no entry to mark), with its defaults' names (`+{row key}` =
 *   `{version}:{names}`) unless `names` is '', the index then kept a week. Reply: the count written.
 * An entry has at most five fields beside it: three marks (`#`, `!`, `?`), its names (`+`), see
 * MARKS, and the writes beneath it (`<`).
 */
export const PENDING: L2Script = {
  name: 'pending',
  source: `${MARKS}
if ARGV[1] == 'peek' then
  local out = {}
  for i = 2, #KEYS do
    out[#out + 1] = redis.call('GET', KEYS[i])
    out[#out + 1] = ARGV[2] == 'marks' and me(KEYS[1], KEYS[i], true) or named(KEYS[1], KEYS[i], redis.call('HGET', KEYS[1], KEYS[i]))
    if ARGV[2] == 'under' then out[#out + 1] = redis.call('HGET', KEYS[1], '<' .. KEYS[i]) end
  end
  return out
end
if ARGV[1] == 'read' then
  local n = redis.call('HLEN', KEYS[1])
  if n > tonumber(ARGV[2]) then return n end
  return redis.call('HGETALL', KEYS[1])
end
local c = 0
local step = ARGV[1] == 'put' and 4 or 2
for i = 2, #ARGV, step do
  local held = redis.call('HGET', KEYS[1], ARGV[i])
  local v = tonumber(string.match(held or '-1;', '^(-?%d+);'))
  if ARGV[1] == 'done' then
    if held and v <= tonumber(ARGV[i + 1]) then
      c = c + redis.call('HDEL', KEYS[1], ARGV[i])
      redis.call('HDEL', KEYS[1], '#' .. ARGV[i], '!' .. ARGV[i], '?' .. ARGV[i], '+' .. ARGV[i], '<' .. ARGV[i])
    end
  else
    local at = string.match(ARGV[i + 1], '^(%d+);')
    local put = tonumber(at)
    if v < put then
      redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1], '?' .. ARGV[i], string.format('%.0f', put + 1))
      if ARGV[i + 2] ~= '' then redis.call('HSET', KEYS[1], '+' .. ARGV[i], at .. ':' .. ARGV[i + 2]) end
      if ARGV[i + 3] ~= '' then redis.call('HSET', KEYS[1], '<' .. ARGV[i], ARGV[i + 3]) end
      c = c + 1
    end
  end
end
if ARGV[1] == 'put' and c > 0 then redis.call('PEXPIRE', KEYS[1], ${7 * 24 * 60 * 60 * 1000}) end
return c`,
};
