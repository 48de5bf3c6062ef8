import { EXPIRED_AT } from './envelope.js';
import { ROW_WRITE_HEAD } from './row-write-head.js';
import type { L2Script } from './types.js';

/**
 * Conditional drops, then INCRs. KEYS = tick, generation, keys, bump keys. ARGV = generation,
 * count, then per key a rule: `all` (always), `unlessPending` (unless a write-behind row is pending there:
 * invalidating must not lose a write Postgres does not have yet), `expire` (as `unlessPending`, but
 * a row is kept, rewritten with expiry and fresh end EXPIRED_AT and its TTL: stale, still there for
 * grace), or a version (only when the key holds that version or an older one: withdrawing one
 * write never drops a newer one); then the floor's ttlMs and owner. Reply: {tick, 0, dropped or
 * expired count, bumps}, or {tick, -4, current generation}.
 *
 * Under `all`, `unlessPending` and `expire`, a value that carries a version (and is not a pending
 * write-behind row) is not deleted but replaced by a superseded marker (kind `x`, a miss for every
 * reader) at that version, for ttlMs: the version floor stays, so a read that began before (a late reply, a lagging read replica) can
 * no longer fill an older row, or the row a delete's tombstone stood for, back under it (PUT
 * refuses anything older whatever the kind). A read at that version or newer replaces it. A
 * withdrawn write (a version rule) and a pending row are deleted: Postgres never got that version,
 * so a floor there would refuse the row it does hold.
 */
export const DROP: L2Script = {
  name: 'drop',
  source: `${ROW_WRITE_HEAD}
local n = tonumber(ARGV[2])
local fttl, fowner = tonumber(ARGV[3 + n]) or 0, ARGV[4 + n] or ''
local out = {tick, 0, 0}
for i = 1, n do
  local key, rule = KEYS[2 + i], ARGV[2 + i]
  local kind, pending, stored = header(key)
  local drop = true
  if rule == 'unlessPending' then drop = pending ~= '1'
  elseif rule == 'expire' then
    drop = pending == '0' and kind ~= 'r' and kind ~= 'x'
    if pending == '0' and kind == 'r' then
      local head, rest = string.match(redis.call('GET', key), '^(~1;r;0;%d+;%d+;)%d+;%d+;(.*)$')
      redis.call('SET', key, head .. '${EXPIRED_AT};${EXPIRED_AT};' .. rest, 'KEEPTTL')
      out[3] = out[3] + 1
    end
  elseif rule ~= 'all' then
    if not stored or tonumber(stored) <= tonumber(rule) then out[3] = out[3] + redis.call('DEL', key) end
    drop = false
  end
  if drop and pending == '0' then
    local floor = '~1;x;0;' .. stored .. ';' .. ARGV[1] .. ';${EXPIRED_AT};${EXPIRED_AT};' .. fowner .. ';'
    if fttl > 0 then redis.call('SET', key, floor, 'PX', fttl) else redis.call('SET', key, floor) end
    out[3] = out[3] + 1
  elseif drop then out[3] = out[3] + redis.call('DEL', key) end
  wrote(key)
  twin_put(i, rule, '')
end
for j = n + 3, #KEYS do out[#out + 1] = redis.call('INCR', KEYS[j]) end
return out`,
};

/**
 * Marks keys superseded: a change made outside Strata (change capture) gave each key a version the
 * cached copies do not have. Each key is set to ARGV's marker (an `x` envelope, see envelope.ts)
 * unless it holds a version at or above ARGV's bound (the change's version: the refreshed read
 * already landed; one past it for a write-behind table, whose outside writes take no version of
 * their own, so a copy at the same version is the old row), a pending write-behind row included:
 * one at or above the bound is not in Postgres yet (its flush wins over the change), one below it
 * is (Postgres held its version when the change was logged: a flush committed it, its settle still
 * on its way) or lost to a newer write, so the change came after it. Its pending index entry stays
 * for the settle. Before, a pending row was never marked, and the settle of a flush whose reply
 * came after the relay put the row the outside write replaced back in every tier
 * (reliability/test/probe-capture-flush-race.test.ts). A marker, unlike a
 * delete, stays to refuse the fills of reads that began before the change (PUT refuses an older
 * version whatever the kind), while the read at the new version replaces it. KEYS = tick,
 * generation, keys, bump keys. ARGV = generation, count, ttlMs (0 = none), then per key: bound,
 * marker. Reply: {tick, 0, marked count, bumps}, or {tick, -4, current generation}.
 */
export const MARK: L2Script = {
  name: 'mark',
  source: `${ROW_WRITE_HEAD}
local n = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local out = {tick, 0, 0}
for i = 1, n do
  local a = 2 + i * 2
  local _, _, stored = header(KEYS[2 + i])
  if not (stored and tonumber(stored) >= tonumber(ARGV[a])) then
    if ttl > 0 then redis.call('SET', KEYS[2 + i], ARGV[a + 1], 'PX', ttl) else redis.call('SET', KEYS[2 + i], ARGV[a + 1]) end
    out[3] = out[3] + 1
  end
  wrote(KEYS[2 + i])
  twin_put(i, ARGV[a], ARGV[a + 1])
end
for j = n + 3, #KEYS do out[#out + 1] = redis.call('INCR', KEYS[j]) end
return out`,
};
