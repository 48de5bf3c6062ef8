/**
 * Lua for the marks a write-through write or a transaction leaves on the queued writes it supersedes
 * (field `#{row key}` of the pending index, see RESERVE_THROUGH): `me(index, key, back)`, the key's
 * entry, or `{version};c;{mark};{entry}` when a mark is above its version (carried: a later write
 * leaving columns out does not carry its columns over its own; a write-behind one carries them
 * beneath, see `QueuedWrite.under`); `mark(index, key, version)`, where the key has an entry, kept
 * at the highest. A second reservation of a key already marked also lists every version marked
 * (field `!{row key}`, space-separated): UNMARK of one Postgres refused then falls back to the
 * highest other, where deleting the mark unmarked a reservation still in flight. With `back`, a
 * come-back mark (field `?{row key}`, see GENERATION) above the entry reads `{version};b;{mark};{entry}`
 * (PENDING `peek` and RESERVE_THROUGH read those: before, a write-through partial set merged over a
 * queued write another shape had superseded unmarked, reliability/test/probe-through-come-back.test.ts).
 * `named(index, key, entry)`: a row entry (`{version};r;{row}`) whose default columns are named (field
 * `+{row key}`, `{version}:{JSON array of column keys}`, of the same version) reads
 * `{version};d;{names};{row}`: a partial set carrying its columns carries those as defaults, an
 * insert's alone (see `QueuedWrite.defaults`). Names of another version (an older Strata, which
 * does not name them, wrote the entry over them) are not read: such an entry has no defaults.
 * The names live beside the entry rather than in it so that an older Strata (a rolling deploy)
 * still reads every entry as it did: its row, defaults as values.
 */
export const MARKS = `local function named(x, k, e)
  local n = e and redis.call('HGET', x, '+' .. k)
  local v = n and string.match(e, '^(%d+);r;')
  if v and string.sub(n, 1, #v + 1) == v .. ':' then return v .. ';d;' .. string.sub(n, #v + 2) .. ';' .. string.sub(e, #v + 4) end
  return e
end
local function me(x, k, back)
  local e = named(x, k, redis.call('HGET', x, k))
  if not e then return e end
  local v, m = string.match(e, '^(%d+);'), redis.call('HGET', x, '#' .. k)
  if v and m and tonumber(m) > tonumber(v) then return v .. ';c;' .. m .. ';' .. e end
  m = back and redis.call('HGET', x, '?' .. k)
  if v and m and tonumber(m) > tonumber(v) then return v .. ';b;' .. m .. ';' .. e end
  return e
end
local function mark(x, k, v)
  if redis.call('HEXISTS', x, k) == 0 then return end
  local m, t = redis.call('HGET', x, '#' .. k), string.format('%.0f', v)
  if m and m ~= t then redis.call('HSET', x, '!' .. k, (redis.call('HGET', x, '!' .. k) or m) .. ' ' .. t) end
  if tonumber(m or '0') < v then redis.call('HSET', x, '#' .. k, t) end
end`;

/**
 * Lua `came_back(x)`: gives every entry of pending index `x` a come-back mark (field `?{row key}`,
 * its version + 1, see `me`): a write that did not see the entries (another shape's while this one
 * was not live, see GENERATION; another app's while it held the table, see SEED_COUNTER) may have
 * superseded them without marking them, so a later partial set carries them only beneath its own
 * columns (`QueuedWrite.under`), applied at their version where Postgres holds the key older.
 */
export const CAME_BACK = `local function came_back(x)
  local all = redis.call('HGETALL', x)
  for i = 1, #all, 2 do
    local v = string.match(all[i + 1], '^(%d+);')
    if v and string.find('#!?+<', string.sub(all[i], 1, 1), 1, true) == nil then
      redis.call('HSET', x, '?' .. all[i], string.format('%.0f', tonumber(v) + 1))
    end
  end
end`;
