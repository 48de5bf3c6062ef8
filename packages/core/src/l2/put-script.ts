import { ROW_WRITE_HEAD } from './row-write-head.js';
import type { L2Script } from './types.js';

/**
 * Conditional writes: each entry lands unless the key holds a NEWER version (an equal version is
 * the same write, e.g. the row as the flush applied it replacing the row as it was sent), then the
 * bump keys are INCR'd. KEYS = tick, generation, entry keys, bump keys. ARGV = generation, count,
 * then per entry: version, ttlMs (0 = none), value. Reply: {tick, 0, per entry 1 (written) or 0 (a
 * newer one is there), bumps}, or {tick, -4, current generation}. With a last ARGV 'settle' (a
 * flush's commit), the key after the entry keys is a pending index (see PENDING), out of
 * which each entry's key goes (with its marks, names and writes beneath, as PENDING 'done' takes them) while it names that
 * version or an older one; its reply slot is 0. A last ARGV 'commit' (a writer's commit after
 * Postgres: write-through, a transaction) or 'settle' replaces an entry of its own version only
 * while that is the pending copy: one that is not (a MARK of an outside write logged at this version
 * after the commit, or a fill that read Postgres after it) is newer than the writer's reply, since a
 * write-behind table's outside writes take no version of their own
 * (reliability/test/probe-capture-flush-race.test.ts). A fill (no last ARGV) at a marker's version
 * lands: it read Postgres after the change.
 */
export const PUT: L2Script = {
  name: 'put',
  source: `${ROW_WRITE_HEAD}
local n = tonumber(ARGV[2])
local out = {tick, 0}
local tail = ARGV[3 + n * 3]
local index = tail == 'settle' and KEYS[n + 3]
local commit = index or tail == 'commit'
local rt = tail == 'fill' and tonumber(ARGV[4 + n * 3])
for i = 1, n do
  local a = 2 + (i - 1) * 3
  if index then
    local held = redis.call('HGET', index, KEYS[2 + i])
    if held and tonumber(string.match(held, '^(%d+);')) <= tonumber(ARGV[a + 1]) then redis.call('HDEL', index, KEYS[2 + i], '#' .. KEYS[2 + i], '!' .. KEYS[2 + i], '?' .. KEYS[2 + i], '+' .. KEYS[2 + i], '<' .. KEYS[2 + i]) end
  end
  local _, pending, stored = header(KEYS[2 + i])
  if (rt and not stored and late(KEYS[2 + i], rt)) or stored and (tonumber(stored) > tonumber(ARGV[a + 1]) or (commit and pending ~= '1' and tonumber(stored) == tonumber(ARGV[a + 1]))) then
    out[2 + i] = 0
  else
    local ttl = tonumber(ARGV[a + 2])
    if ttl > 0 then redis.call('SET', KEYS[2 + i], ARGV[a + 3], 'PX', ttl) else redis.call('SET', KEYS[2 + i], ARGV[a + 3]) end
    out[2 + i] = 1
  end
  if commit then wrote(KEYS[2 + i]) end
  twin_mark(i, ARGV[a + 1])
end
local bumps = n + 3
if index then
  out[n + 3] = 0
  bumps = n + 4
end
for j = bumps, #KEYS do out[j] = redis.call('INCR', KEYS[j]) end
return out`,
};
