import { LIFE } from './life-script.js';
import { MARKS } from './marks-script.js';
import { HEADER } from './script-parts.js';
import type { L2Script } from './types.js';

/**
 * Takes ARGV[2] versions from a counter without writing anything: a transaction that writes a
 * write-behind schema orders itself among that schema's queued writes this way before Postgres
 * commits. KEYS = tick, counter, then m row keys, then optionally groups of a pending index and the
 * count row keys written (in version order) under its shape (this schema's, then every other live
 * shape's: a rolling deploy's other version may have writes of these keys queued in its own index);
 * ARGV = tick floor, count, m, then per row key the version it must hold ('0' = none; a
 * transaction's partial set merged over the key's queued writes). Reply: {tick, 0, first version},
 * {tick, -5} when a row key moved (nothing taken), or {tick, -3} / {tick, -1} as ORDERED_PUT. Each
 * written key with an entry in a group's pending index is marked there with its reserved version,
 * as RESERVE_THROUGH marks them (the transaction supersedes those queued writes).
 */
export const RESERVE: L2Script = {
  name: 'reserve',
  source: `${LIFE}
${HEADER}
${MARKS}
local tick = redis.call('INCR', KEYS[1])
if tick <= tonumber(ARGV[1]) then return {tick, -3} end
if redis.call('EXISTS', KEYS[2]) == 0 then return {tick, -1} end
local m = tonumber(ARGV[3])
for i = 3, m + 2 do
  local _, _, stored = header(KEYS[i])
  if (stored or '0') ~= ARGV[i + 1] then return {tick, -5} end
end
local n = tonumber(ARGV[2])
local first = redis.call('INCRBY', KEYS[2], n) - n + 1
for g = m + 3, #KEYS, n + 1 do
  for j = g + 1, g + n do mark(KEYS[g], KEYS[j], first + j - g - 1) end
end
return {tick, 0, first}`,
};

/**
 * A write-through write's place among its app's Redis-ordered writes (see `ThroughOrder`): takes
 * ARGV[2] versions (0: none, only whether there is a counter) from the counter, or, when the app
 * has none, records that it was found missing at epoch ARGV[3] (KEYS[3], kept at the highest): a
 * counter seeded from that epoch or an earlier one is refused then (SEED_COUNTER), so a counter the
 * writer did not see comes with a later epoch, which its next write's epoch guard finds. KEYS =
 * tick, counter, mark, then optionally groups of a pending index and the ARGV[4] row keys of the
 * write (in the order of their versions) under its shape. ARGV = tick floor, count, epoch, then
 * optionally k, per row key '1' where it is peeked, else '0', and how many groups (the first) are
 * peeked (the others, shapes of another codec, are only marked). Reply: {tick, 0, first version}
 * (first is the counter + 1 when count is 0), then per peeked group and row key its value and its
 * entry in the group's pending index (as PENDING `peek` with marks, come-back ones too): the queued
 * writes of the keys of a set that leaves columns out, read with the reservation, so every one
 * acknowledged before it is seen (see `overPending`); {tick, -1} (no counter: marked), or {tick, -3}
 * as ORDERED_PUT.
 * Every row key with an entry is then marked with its reserved version (field `#{row key}`, kept
 * at the highest): this write supersedes the queued writes (their flush is refused as older), so a
 * write-behind set leaving columns out made before it commits must not carry their columns over
 * the ones it sets (see ORDERED_PUT's `^`, PENDING `peek` with marks).
 */
export const RESERVE_THROUGH: L2Script = {
  name: 'reserve-through',
  source: `${LIFE}
${MARKS}
local tick = redis.call('INCR', KEYS[1])
if tick <= tonumber(ARGV[1]) then return {tick, -3} end
if redis.call('EXISTS', KEYS[2]) == 0 then
  if tonumber(redis.call('GET', KEYS[3]) or '-1') < tonumber(ARGV[3]) then redis.call('SET', KEYS[3], ARGV[3]) end
  return {tick, -1}
end
local n = tonumber(ARGV[2])
local first = redis.call('INCRBY', KEYS[2], n) - n + 1
local out = {tick, 0, first}
local k = tonumber(ARGV[4] or '0')
if k > 0 then
  for g = 4, 3 + tonumber(ARGV[5 + k]) * (k + 1), k + 1 do
    for i = g + 1, g + k do
      if ARGV[4 + i - g] == '1' then
        out[#out + 1] = redis.call('GET', KEYS[i])
        out[#out + 1] = me(KEYS[g], KEYS[i], 1)
      end
    end
  end
  for g = 4, #KEYS, k + 1 do
    for i = g + 1, g + k do mark(KEYS[g], KEYS[i], first + i - g - 1) end
  end
end
return out`,
};

/**
 * Takes back the marks a write-through write or a transaction left on queued writes it would have
 * superseded (see RESERVE_THROUGH), once Postgres refused it: KEYS = a pending index, then row keys;
 * ARGV = per row key the version reserved. A mark another write raised since stays; one that other
 * reservations of the key marked too (their list, see MARKS) falls back to the highest of them.
 */
export const UNMARK: L2Script = {
  name: 'unmark',
  source: `for i = 2, #KEYS do
  local x, f, l, v, r, s = KEYS[1], '#' .. KEYS[i], '!' .. KEYS[i], tonumber(ARGV[i - 1]), {}, '0'
  for w in string.gmatch(redis.call('HGET', x, l) or '', '%d+') do
    if tonumber(w) ~= v then
      r[#r + 1] = w
      if tonumber(w) > tonumber(s) then s = w end
    end
  end
  if #r > 1 then redis.call('HSET', x, l, table.concat(r, ' ')) else redis.call('HDEL', x, l) end
  if tonumber(redis.call('HGET', x, f) or '0') == v then
    if s ~= '0' then redis.call('HSET', x, f, s) else redis.call('HDEL', x, f) end
  end
end`,
};
