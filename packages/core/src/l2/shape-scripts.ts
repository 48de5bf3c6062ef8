/*
 * The live-shape registry in Lua (see `LiveShapes`): a table whose two code versions serve at once
 * (a rolling deploy adding a column) caches its rows under two row keys, one per shape
 * (`{fingerprint}-{codec}`). Every write script marks the key under each OTHER live shape in the
 * same atomic step, so no instance of either version reads a row older than the last acknowledged
 * write. With one shape live, the registry costs a TIME and an HGETALL inside the script: no
 * round trip.
 */

/** A shape counts as live while an instance of it confirmed it within this window (Redis' clock). */
export const SHAPE_LIVE_MS = 30_000;
/** A shape not confirmed for this long is forgotten (the registry's own expiry too). */
export const SHAPE_FORGET_MS = 24 * 60 * 60 * 1000;
/** A write script's status when the live shapes it was sent for are not the live ones now. */
export const SHAPES_CHANGED = -6;
/** The last ARGV of a write script that carries a shape tail (see `SHAPE_TAIL`). */
export const SHAPE_SENTINEL = '~shapes';

/**
 * `register(registry, mine, confirm)`: the live shapes other than `mine` (sorted), judged on Redis'
 * TIME, and whether `mine` comes back after other shapes were confirmed while it was not live
 * (their writes did not mark its keys: they may hold rows older than acknowledged writes).
 * `confirm`: record `mine` as live now (always on a generation read; a write only refreshes a
 * shape still live, so that coming back always goes through the generation read, which moves on).
 * Shapes not seen for `SHAPE_FORGET_MS` are dropped.
 */
export const REGISTER = `local function register(registry, mine, confirm)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local all = redis.call('HGETALL', registry)
  local live, mineAt, newest = {}, -1, -1
  for i = 1, #all, 2 do
    local at = tonumber(all[i + 1]) or 0
    if all[i] == mine then mineAt = at
    elseif at < now - ${SHAPE_FORGET_MS} then redis.call('HDEL', registry, all[i])
    else
      if at >= now - ${SHAPE_LIVE_MS} then live[#live + 1] = all[i] end
      if at > newest then newest = at end
    end
  end
  local alive = mineAt >= now - ${SHAPE_LIVE_MS}
  if confirm or alive then
    redis.call('HSET', registry, mine, string.format('%.0f', now))
    redis.call('PEXPIRE', registry, ${SHAPE_FORGET_MS})
  end
  table.sort(live)
  return live, (not alive) and newest > mineAt
end`;

/**
 * The shape tail of a write script, run before its body (after HEADER). A caller that writes rows
 * appends KEYS = registry, then per row key i and other live shape j the key of that row under
 * shape j (row-major), and ARGV = its own shape, the other shapes it knows live (sorted), the
 * marker's owner, expiresAt and ttlMs, the count of other shapes, the count of twin keys, and
 * `SHAPE_SENTINEL`. The tail is taken off KEYS and ARGV, so the body sees its usual arguments. When
 * the live shapes differ from those sent, nothing is written: the reply is {tick, -6, live shapes…},
 * and the caller sends again for those. Without a tail, nothing changes (a fill: a read's copy
 * marks nothing).
 *
 * The body then calls `twin_put(i, bound, value)` (each twin of row i takes `value` unless it holds
 * version `bound` or newer), `twin_mark(i, version)` (a superseded marker, kind `x`, at `version`:
 * readers of the other shape take it as a miss and read Postgres, and PUT refuses their fills of
 * anything older) or `twin_drop(i, rule)` (DROP's rules).
 */
export const SHAPE_TAIL = `${REGISTER}
local twins, twin_m, twin_owner, twin_at, twin_ttl = {}, 0, '', '0', 0
if ARGV[#ARGV] == '${SHAPE_SENTINEL}' then
  local a = #ARGV
  local count = tonumber(ARGV[a - 1])
  twin_m = tonumber(ARGV[a - 2])
  twin_ttl = tonumber(ARGV[a - 3])
  twin_at = ARGV[a - 4]
  twin_owner = ARGV[a - 5]
  local mine = ARGV[a - 6 - twin_m]
  local sent = {}
  for j = 1, twin_m do sent[j] = ARGV[a - 6 - twin_m + j] end
  for _ = 1, 7 + twin_m do table.remove(ARGV) end
  for j = count, 1, -1 do twins[j] = table.remove(KEYS) end
  local live = register(table.remove(KEYS), mine, false)
  if table.concat(live, ',') ~= table.concat(sent, ',') then
    local out = {redis.call('INCR', KEYS[1]), ${SHAPES_CHANGED}}
    for j = 1, #live do out[2 + j] = live[j] end
    return out
  end
end
local function twin_put(i, bound, value)
  for j = 1, twin_m do
    local key = twins[(i - 1) * twin_m + j]
    local _, _, stored = header(key)
    if not (stored and tonumber(stored) >= tonumber(bound)) then
      if twin_ttl > 0 then redis.call('SET', key, value, 'PX', twin_ttl) else redis.call('SET', key, value) end
    end
  end
end
local function twin_mark(i, version)
  if twin_m == 0 then return end
  local v = string.format('%.0f', tonumber(version))
  twin_put(i, v, '~1;x;0;' .. v .. ';' .. ARGV[1] .. ';' .. twin_at .. ';' .. twin_at .. ';' .. twin_owner .. ';')
end
local function twin_drop(i, rule)
  for j = 1, twin_m do
    local key = twins[(i - 1) * twin_m + j]
    local _, pending, stored = header(key)
    local drop = true
    if rule == 'unlessPending' or rule == 'expire' then drop = pending ~= '1'
    elseif rule ~= 'all' and stored then drop = tonumber(stored) <= tonumber(rule) end
    if drop then redis.call('DEL', key) end
  end
end`;
