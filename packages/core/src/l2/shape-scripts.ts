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
/**
 * A write confirms its (still live) shape only once its confirmation is older than this: an HSET
 * and a PEXPIRE on every write cost the write script a tenth of its time in Redis, and every
 * generation read (at least every 5 s while an instance serves) confirms it anyway. A shape that
 * keeps writing thus stays live at least `SHAPE_LIVE_MS - SHAPE_REFRESH_MS` past its last write.
 */
export const SHAPE_REFRESH_MS = 10_000;
/** A shape not confirmed for this long is forgotten (the registry's own expiry too). */
export const SHAPE_FORGET_MS = 24 * 60 * 60 * 1000;
/** A write script's status when the live shapes it was sent for are not the live ones now. */
export const SHAPES_CHANGED = -6;
/** The last ARGV of a write script that carries a shape tail (see `SHAPE_TAIL`). */
export const SHAPE_SENTINEL = '~shapes';
/** The last ARGV of a write script whose writer knows no other live shape: its short tail. */
export const SHAPE_ALONE = '~alone';

/**
 * `register(registry, mine, confirm)`: the live shapes other than `mine` (sorted), judged on Redis'
 * TIME, and whether `mine` comes back after other shapes were confirmed while it was not live
 * (their writes did not mark its keys: they may hold rows older than acknowledged writes).
 * `confirm`: record `mine` as live now (always on a generation read; a write only refreshes a
 * shape still live, so that coming back always goes through the generation read, which moves on,
 * and only one confirmed `SHAPE_REFRESH_MS` ago or more). Shapes not seen for `SHAPE_FORGET_MS`
 * are dropped.
 */
export const REGISTER = `local function register(h, mine, confirm)
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local all = redis.call('HGETALL', h)
local live, at0, newest = {}, -1, -1
for i = 1, #all, 2 do
local at = tonumber(all[i + 1]) or 0
if all[i] == mine then at0 = at
elseif at < now - ${SHAPE_FORGET_MS} then redis.call('HDEL', h, all[i])
else
if at >= now - ${SHAPE_LIVE_MS} then live[#live + 1] = all[i] end
if at > newest then newest = at end
end
end
local alive = at0 >= now - ${SHAPE_LIVE_MS}
if confirm or (alive and at0 < now - ${SHAPE_REFRESH_MS}) then
redis.call('HSET', h, mine, string.format('%.0f', now))
redis.call('PEXPIRE', h, ${SHAPE_FORGET_MS})
end
table.sort(live)
return live, not alive and newest > at0
end`;

/**
 * The shape tail of a write script, run before its body (after HEADER). A caller that writes rows
 * appends KEYS = registry, then per row key i and other live shape j the key of that row under
 * shape j (row-major), and ARGV = its own shape, the other shapes it knows live (sorted), the
 * marker's owner, expiresAt and ttlMs, the count of other shapes, the count of twin keys, and
 * `SHAPE_SENTINEL`. A caller that knows no other live shape (the usual case) sends the short tail:
 * KEYS = registry, ARGV = its own shape and `SHAPE_ALONE` (nothing else is needed: no twin to mark;
 * each command argument costs the script's call ~0.15 µs, and this tail takes 5 fewer). The tail
 * is taken off KEYS and ARGV, so the body sees its usual arguments. When the live shapes differ
 * from those sent, nothing is written: the reply is {tick, -6, live shapes…}, and the caller sends
 * again for those. Without a tail, nothing changes (a fill: a read's copy marks nothing).
 *
 * The body then calls `twin_put(i, bound, value)` (each twin of row i takes `value` unless it holds
 * version `bound` or newer; with `value` '', it is dropped by DROP's rule `bound`: a value that is
 * not pending keeps its version as a marker under `all`, `unlessPending` and `expire`, as DROP's own
 * keys do) or
 * `twin_mark(i, version)` (a superseded marker, kind `x`, at `version`: readers of the other shape
 * take it as a miss and read Postgres, and PUT refuses their fills of anything older). The Lua is
 * kept terse: every Worker bundles it.
 */
export const SHAPE_TAIL = `${REGISTER}
local twins, tm, towner, tat, tttl = {}, 0
local a, mine, sent = #ARGV
if ARGV[a] == '${SHAPE_ALONE}' then
mine, sent, ARGV[a], ARGV[a - 1] = ARGV[a - 1], '', nil, nil
elseif ARGV[a] == '${SHAPE_SENTINEL}' then
local count = tonumber(ARGV[a - 1])
tm, tttl, tat, towner = tonumber(ARGV[a - 2]), ARGV[a - 3], ARGV[a - 4], ARGV[a - 5]
mine = ARGV[a - 6 - tm]
local s = {}
for j = 1, tm do s[j] = ARGV[a - 6 - tm + j] end
sent = table.concat(s, ',')
for j = a, a - 6 - tm, -1 do ARGV[j] = nil end
for j = count, 1, -1 do twins[j] = table.remove(KEYS) end
end
if mine then
local live = register(table.remove(KEYS), mine)
if table.concat(live, ',') ~= sent then
local out = {redis.call('INCR', KEYS[1]), ${SHAPES_CHANGED}}
for j = 1, #live do out[2 + j] = live[j] end
return out
end
end
local function xm(v) return '~1;x;0;' .. v .. ';' .. ARGV[1] .. ';' .. tat .. ';' .. tat .. ';' .. towner .. ';' end
local function twin_put(i, bound, value)
for j = 1, tm do
local key = twins[(i - 1) * tm + j]
local _, pending, stored = header(key)
local n = tonumber(bound)
if value ~= '' then
if not (stored and tonumber(stored) >= n) then redis.call('SET', key, value, 'PX', tttl) end
elseif not n and pending == '0' then redis.call('SET', key, xm(stored), 'PX', tttl)
elseif bound == 'all' or (n and (not stored or tonumber(stored) <= n)) or (not n and pending ~= '1') then redis.call('DEL', key) end
end
end
local function twin_mark(i, version)
if tm == 0 then return end
local v = string.format('%.0f', version)
twin_put(i, v, xm(v))
end`;
