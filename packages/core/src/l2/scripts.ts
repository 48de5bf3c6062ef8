import { DUE_PEEK, PAST_DUE } from './due-script.js';
import { EXPIRED_AT, GENERATION_ERA } from './envelope.js';
import { LIFE } from './life-script.js';
import { RELAY_RELEASE, RELAY_STORE, RELAY_TAKE } from './relay-scripts.js';
import { REGISTER, SHAPE_TAIL } from './shape-scripts.js';
import { TAG_LUA } from './tag-epoch.js';
import type { L2Script } from './types.js';

/*
 * The Lua scripts behind every L2 write. Each is atomic (Redis runs one script at a time), so a
 * compare and the write it guards cannot be split by another instance. They read only an
 * envelope's header (GETRANGE of its first bytes; see envelope.ts), never a whole row. Versions go
 * to Lua as doubles, exact below 2^53, and back to text through '%.0f' (plain `..` would print 14
 * significant digits).
 */

/** The header of the value at key i: kind, pending flag, version (nil for a foreign value). */
const HEADER = `local function header(key)
  return string.match(redis.call('GETRANGE', key, 0, 79), '^~1;(%a);(%d);(%d+);')
end`;

/*
 * Every write script takes the app's tick (`{keyPrefix}:tick`) as KEYS[1] and INCRs it, replying
 * with it: a Redis that went back in time (restored from an older snapshot, restarted empty)
 * answers with a tick not above one the instance saw before it sent the request (see `L2Watch`).
 * Scripts that hand out versions also take that floor and refuse to hand any out below it. Each
 * also takes the boot marker its instance knows (`LIFE`, l2/life-script.ts) and writes nothing in a
 * Redis life that instance has not found.
 *
 * Every script that writes rows also takes the schema's generation key (KEYS[2]) and the
 * generation its values carry (ARGV[1]), and writes nothing when the generation has moved on
 * meanwhile (an invalidateAll, a reset elsewhere): it replies the current one, and the caller builds
 * the values again. So every value written carries the generation readers use.
 */

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
 * (PENDING `peek` reads those; RESERVE_THROUGH, for a write-through partial set, does not).
 * `named(index, key, entry)`: a row entry (`{version};r;{row}`) whose default columns are named (field
 * `+{row key}`, `{version}:{JSON array of column keys}`, of the same version) reads
 * `{version};d;{names};{row}`: a partial set carrying its columns carries those as defaults, an
 * insert's alone (see `QueuedWrite.defaults`). Names of another version (an older Strata, which
 * does not name them, wrote the entry over them) are not read: such an entry has no defaults.
 * The names live beside the entry rather than in it so that an older Strata (a rolling deploy)
 * still reads every entry as it did: its row, defaults as values.
 */
const MARKS = `local function named(x, k, e)
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
/** Refuses (status -4, then the current generation) a write whose keys name another generation. */
const SAME_GENERATION = `local current = redis.call('GET', KEYS[2]) or '0'
if current ~= ARGV[1] then return {tick, -4, tonumber(current)} end`;

/**
 * The ticks of the last writes (`wrote`) in a hash beside the generation key (`{generation key}:w`,
 * no TTL, so `volatile-*` never evicts it): field `*`, the tick it was created at, and per slot of
 * row keys (the first 2 hex digits of the key's SHA-1: 256 at most) the tick of the last write
 * of a key of that slot. A fill (`late`) of a key that holds nothing lands only if no write of its
 * slot came after the tick its read saw before it read Postgres, nor the hash's creation (a write
 * after the hash itself was lost, `allkeys-*`): what a write leaves at its version (row, tombstone,
 * marker) may be evicted before a late fill comes (reliability/test/probe-evict-late-fill.test.ts).
 * No hash (no write since it was lost, or ever): the fill lands, as before. Needs `tick`. Named
 * from KEYS[2], not passed in KEYS: the same hash tag (cluster slot), and no caller's KEYS change.
 */
const WROTE = `local wk = KEYS[2] .. ':w'
local function slot(k) return string.sub(redis.sha1hex(k), 1, 2) end
local function wrote(k)
  redis.call('HSETNX', wk, '*', tick)
  redis.call('HSET', wk, slot(k), tick)
end
local function late(k, rt)
  local w = redis.call('HMGET', wk, '*', slot(k))
  return w[1] and (tonumber(w[1]) > rt or tonumber(w[2] or '0') > rt)
end`;

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
  source: `${LIFE}
${HEADER}
${SHAPE_TAIL}
local tick = redis.call('INCR', KEYS[1])
${SAME_GENERATION}
${WROTE}
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

/**
 * The source of ORDERED_PUT and ORDERED_PUT_ENQUEUE: `rows` is the index of the first row key, the
 * ARGV of entry i start at `5 + extra + (i - 1) * per`. With `enqueue`, each write is XADDed to the
 * stream KEYS[6] (field ARGV[5]) as its JSON head (ARGV per entry, 5th) followed by its version and
 * '}', BEFORE anything is written: a Redis script is not rolled back when a command fails, and a
 * failed XADD must leave no pending row that no queue entry will ever flush. A pending write also
 * lands in the pending index KEYS[5] (see PENDING), field its row key, value
 * `{version};{kind};{row}` (the row: the entry's last ARGV but one, or its payload when that is ''),
 * and, when the last ARGV (a JSON array of column keys) is not '', field `+{row key}` naming the
 * row's default columns (`{version}:{names}`, see `named` in MARKS; not deleted when '': names of
 * an older version are not read), and, when the last ARGV is not '', field `<{row key}` holding it:
 * the queued writes the row goes beneath (`QueuedWrite.under`, see engine/pending-beneath.ts; not
 * deleted when '': the flush still applies them beneath a later write's fold). Each
 * version is formatted once (`versions`): the queue entry and the envelope carry the same text.
 * `extra` ARGV (from `ARGV[p]`, after the field) come before the entries' and `tail` (Lua given
 * `p`, `base` and `per`) runs once every row is written: see `l2/publish-scripts.ts`. ARGV[2], the
 * tick floor, may carry the write's deadline on Redis' clock (`{floor}:{due}`, see `PAST_DUE`).
 */
export function orderedPut(
  enqueue: boolean,
  extra = 0,
  tail: (p: number, base: number, per: number) => string = () => '',
): string {
  const rows = enqueue ? 6 : 5;
  const per = enqueue ? 8 : 7;
  const p = enqueue ? 6 : 5;
  const base = p + extra;
  return `${LIFE}
${HEADER}
${SHAPE_TAIL}
local tick = redis.call('INCR', KEYS[1])
${SAME_GENERATION}
${WROTE}
local floor, due = string.match(ARGV[2], '^(%d+):?(%d*)$')
if tick <= tonumber(floor) then return {tick, -3} end
${PAST_DUE}
local counter = redis.call('GET', KEYS[3])
if not counter then return {tick, -1} end
local n = #KEYS - ${rows}
local first = tonumber(counter) + 1
local held, versions = {}, {}
for i = 1, n do
  local kind, _, stored = header(KEYS[${rows} + i])
  if stored and tonumber(stored) >= first + i - 1 then return {tick, -2, tonumber(stored)} end
  local expected = ARGV[${base} + n * ${per} + i - 1]
  if expected and expected ~= '' then
    local ev, carries = string.match(expected, '^(%d+)(%^?)$')
    if ev ~= (stored or '0') then return {tick, -5} end
    if carries == '^' then
      for _, f in ipairs({'#', '?'}) do
        if tonumber(redis.call('HGET', KEYS[5], f .. KEYS[${rows} + i]) or '0') > tonumber(ev) then return {tick, -5} end
      end
    end
  end
  held[i] = (kind == 'r') and 1 or 0
  versions[i] = string.format('%.0f', first + i - 1)
end
${
  enqueue
    ? `for i = 1, n do
  redis.call('XADD', KEYS[6], '*', ARGV[5], ARGV[${base} + (i - 1) * ${per} + 4] .. versions[i] .. '}')
end
`
    : ''
}redis.call('INCRBY', KEYS[3], n)
local out = {tick, 0, first, redis.call('INCR', KEYS[4])}
for i = 1, n do
  local a = ${base} + (i - 1) * ${per}
  local version = versions[i]
  local value = '~1;' .. ARGV[a] .. ';' .. ARGV[3] .. ';' .. version .. ';' ..
    ARGV[1] .. ';' .. ARGV[a + 2] .. ';' .. ARGV[a + 2] .. ';' .. ARGV[4] .. ';' .. ARGV[a + 3]
  local ttl = tonumber(ARGV[a + 1])
  if ttl > 0 then redis.call('SET', KEYS[${rows} + i], value, 'PX', ttl) else redis.call('SET', KEYS[${rows} + i], value) end
  if ARGV[3] == '1' then
    local row, names, under = ARGV[a + ${per - 3}], ARGV[a + ${per - 2}], ARGV[a + ${per - 1}]
    if row == '' then row = ARGV[a + 3] end
    redis.call('HSET', KEYS[5], KEYS[${rows} + i], version .. ';' .. ARGV[a] .. ';' .. row)
    if names ~= '' then redis.call('HSET', KEYS[5], '+' .. KEYS[${rows} + i], version .. ':' .. names) end
    if under ~= '' then redis.call('HSET', KEYS[5], '<' .. KEYS[${rows} + i], under) end
    if ttl > 0 then redis.call('PEXPIRE', KEYS[5], ttl) end
  end
  out[4 + i] = held[i]
  wrote(KEYS[${rows} + i])
  twin_mark(i, version)
end
${tail(p, base, per)}return out`;
}

/**
 * Writes ordered by Redis (write-behind, and schemas whose source of truth is L2): takes one version
 * per key from the schema's counter and writes each envelope with it, moving the search generation
 * on. KEYS = tick, generation, counter, search generation, pending index, then the row keys. ARGV =
 * generation, tick floor, pending flag, owner, then per key: kind, ttlMs, expiresAt, payload, the
 * row the pending index keeps ('' for the payload; only with the pending flag '1', see PENDING),
 * the JSON array of the keys of its columns that are defaults for a new row ('' for none), and the
 * writes it goes beneath ('' for none, see engine/pending-beneath.ts).
 * The tick floor may be followed by `:{due}`, a deadline in ms on Redis' clock (a write-behind
 * write's, see engine/conditional-writes.ts): a script that runs after it writes nothing and replies
 * {tick, -6}.
 * Reply {tick, status, …}: {tick, 0, first version, search generation, then per key 1 if it held a
 * row before, else 0}; {tick, -4, generation} when the generation moved on; {tick, -3} when the
 * tick is not above the floor (Redis went back: the counter may hand out versions already given;
 * reseed it first); {tick, -1} when the counter is missing (never seeded, or Redis lost it: seed it
 * and run again); {tick, -2, stored} when a key already holds a version the counter has not
 * reached: the counter went back. Nothing is written on a refusal, and the counter is taken from
 * only once every key has passed the check. Optionally, after every key's arguments, one expected
 * version per key ('' = any, '0' = none): a write merged over the key's row as it was (a partial
 * write-behind set, see `partial-rows.ts`) is refused with {tick, -5} if the key moved since. An
 * expected version followed by `^` (the write carries the key's queued writes' columns) is also
 * refused when a write-through write or a transaction reserved a version above it meanwhile (its
 * mark in the pending index, see RESERVE_THROUGH): that write supersedes them, and carries them; or
 * when a come-back mark was set above it meanwhile (see GENERATION): merged again, the write carries
 * them beneath its own.
 */
export const ORDERED_PUT: L2Script = { name: 'ordered-put', source: orderedPut(false) };

/**
 * ORDERED_PUT that also enqueues each write on a write-behind queue kept in the same Redis (a
 * `ColocatedQueue`): a write-behind `set` in one round trip, its rows and queue entries atomic.
 * KEYS = tick, generation, counter, search generation, pending index, stream, then the row keys.
 * ARGV = generation, tick floor, pending flag, owner, entry field, then per key: kind, ttlMs,
 * expiresAt, payload, the write's JSON up to its version (`{…,"version":`), the pending index's row
 * and its default columns' names. Reply as ORDERED_PUT; a refusal enqueues
 * nothing either.
 */
export const ORDERED_PUT_ENQUEUE: L2Script = { name: 'ordered-put-enqueue', source: orderedPut(true) };

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
 * entry in the group's pending index (as PENDING `peek` with marks): the queued writes of the keys
 * of a set that leaves columns out, read with the reservation, so every one acknowledged before it
 * is seen (see `overPending`); {tick, -1} (no counter: marked), or {tick, -3} as ORDERED_PUT.
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
        out[#out + 1] = me(KEYS[g], KEYS[i])
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
  source: `${LIFE}
${HEADER}
${SHAPE_TAIL}
local tick = redis.call('INCR', KEYS[1])
${SAME_GENERATION}
${WROTE}
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
  source: `${LIFE}
${HEADER}
${SHAPE_TAIL}
local tick = redis.call('INCR', KEYS[1])
${SAME_GENERATION}
${WROTE}
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

/**
 * The Redis server's replication id (`sid`; nil where a script may not run INFO) and `marked(m)`,
 * a new boot marker carrying it (`m@id`). A failover to a replica, or a restart, gives the server a
 * new id while the marker may come back with the data: a marker born under another id names a
 * Redis life that is over, whatever the tick says (a failover loses only a few ticks, and a busy app
 * makes them up within seconds).
 */
const SERVER_ID = `local ok, info = pcall(redis.call, 'INFO', 'replication')
local sid = ok and type(info) == 'string' and string.match(info, 'master_replid:(%x+)') or nil
local function marked(m) return sid and (m .. '@' .. sid) or m end`;

/**
 * A schema's generation, with what tells a restarted or restored Redis apart: KEYS = generation,
 * boot marker, tick, and optionally the app's L3 claim. The boot marker is set (to ARGV[1]) when
 * missing, so a Redis that lost its data answers with a new one; the tick is INCR'd on every call,
 * so a Redis restored from an older snapshot answers with a tick lower than one already seen. With
 * KEYS[4] and an L3 identity in ARGV[2] (not ''), the claim is set to it (PX ARGV[3]) unless it
 * holds another one, which is then replied: the keyPrefix is in use by an app on another database.
 * With KEYS[5] (the table's shape registry), KEYS[6] (its search generation) and ARGV[4] (this
 * schema's shape), the shape is confirmed live (see `REGISTER`); one coming back after other shapes
 * wrote while it was not live moves the generation on by one (as invalidateAll: its keys may hold
 * rows those writes did not mark; pending rows survive) and gives every entry of this shape's pending
 * index KEYS[9] a come-back mark (field `?{row key}`, its version + 1, see MARKS): a write of another
 * shape that did not see this one (not live) marked none of them, though it may supersede them, so
 * a write-behind partial set over one carries its columns only beneath its own (`QueuedWrite.under`).
 * Before, it carried them over the other shape's write, and its flush wrote their older values over
 * the ones that write set (reliability/test/probe-marks-shapes.test.ts). KEYS[7] is the app's shared writer claim of
 * the table (see `SharedClaims`), read only: its value ('' when none) and PTTL are replied.
 * With ARGV[6] (a seed), the search generation KEYS[6] is set to it unless its value counts
 * (2^52 and up: see l2/search-generation.ts), so that a value counted up again from nothing after
 * a loss never names a list.
 * KEYS[8] is the schema's write-behind counter: whether it exists is replied (a write-through
 * write reserves its version from it, see `ThroughOrder`). KEYS[10] and ARGV[5] (the schema's base, and
 * the L3 identity with its table) are a second L3 claim, checked as KEYS[4], and taken only when
 * KEYS[4] was not refused: an app refused the keyPrefix took the base of every table the keyPrefix's
 * app had not used yet, which then refused that app L2 for it (reliability/test/regression-tenant-paths.test.ts). Reply: {generation, boot marker, tick, the other identity or '', Redis' time (ms), the
 * other live shapes, the writer claim, its PTTL, 1 if the counter exists else 0, 1 if the marker was
 * replaced because it was born under another server id (see `SERVER_ID`) else 0}.
 */
export const GENERATION: L2Script = {
  name: 'generation',
  source: `${REGISTER}
local live = {}
if KEYS[5] and ARGV[4] then
  local back
  live, back = register(KEYS[5], ARGV[4], true)
  if back then
    redis.call('SET', KEYS[1], string.format('%.0f', tonumber(redis.call('GET', KEYS[1]) or '0') + 1))
    redis.call('INCR', KEYS[6])
    if KEYS[9] then
      local all = redis.call('HGETALL', KEYS[9])
      for i = 1, #all, 2 do
        local v = string.match(all[i + 1], '^(%d+);')
        if v and string.find('#!?+<', string.sub(all[i], 1, 1), 1, true) == nil then
          redis.call('HSET', KEYS[9], '?' .. all[i], string.format('%.0f', tonumber(v) + 1))
        end
      end
    end
  end
end
${SERVER_ID}
local boot, renewed = redis.call('GET', KEYS[2]), 0
local was = boot and string.match(boot, '@(%x+)$')
if was and sid and was ~= sid then boot, renewed = nil, 1 end
if not boot then
  boot = marked(ARGV[1])
  redis.call('SET', KEYS[2], boot)
end
local tick = redis.call('INCR', KEYS[3])
local other = ''
local function claim(k, v)
  if k and v and v ~= '' then
    local held = redis.call('GET', k)
    if held and held ~= v then other = held
    else redis.call('SET', k, v, 'PX', tonumber(ARGV[3])) end
  end
end
claim(KEYS[4], ARGV[2])
if other == '' then claim(KEYS[10], ARGV[5]) end
local writer, writerMs = '', -2
if KEYS[7] then writer, writerMs = redis.call('GET', KEYS[7]) or '', redis.call('PTTL', KEYS[7]) end
local counter = KEYS[8] and redis.call('EXISTS', KEYS[8]) or 0
if ARGV[6] and tonumber(redis.call('GET', KEYS[6]) or '0') < 2^52 then redis.call('SET', KEYS[6], ARGV[6]) end
local now = redis.call('TIME')
return {redis.call('GET', KEYS[1]) or '0', boot, tick, other, tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000), live, writer, writerMs, counter, renewed}`,
};

/**
 * Moves a schema's generation past both its current value and ARGV[1] (the highest this instance
 * saw: after a restore the stored one may be older), and its search generation on. With ARGV[2] =
 * '1' (a hard move: L2 missed a write, Redis was reset) to the start of the next era (see
 * `GENERATION_ERA`), which orphans pending write-behind rows too; else by one (invalidateAll), which
 * they survive. KEYS = generation, search generation. Reply: the new generation.
 */
export const NEXT_GENERATION: L2Script = {
  name: 'next-generation',
  source: `local g = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[1])
if floor > g then g = floor end
if ARGV[2] == '1' then g = (math.floor(g / ${GENERATION_ERA}) + 1) * ${GENERATION_ERA} else g = g + 1 end
redis.call('SET', KEYS[1], string.format('%.0f', g))
redis.call('INCR', KEYS[2])
return g`,
};

/**
 * The generation move after a reset (Redis restarted empty or went back to an older snapshot): one
 * move per schema per Redis life, however many instances find out, so that a write made after the
 * first move is not hidden by the next. KEYS = generation, search generation, the schema's moved-for
 * marker, the app's boot marker. ARGV = floor (as NEXT_GENERATION), the boot marker to replace
 * (a restore keeps the old life's marker: whoever finds it still there sets a new one, ARGV[3];
 * '' when the reset was found by a new marker; a missing marker is always set), and '1' to move
 * even when this life's move was made (L2 also missed a write). Reply: {generation, boot marker}.
 */
export const RESET_GENERATION: L2Script = {
  name: 'reset-generation',
  source: `${SERVER_ID}
local boot = redis.call('GET', KEYS[4])
if (not boot) or (ARGV[2] ~= '' and (ARGV[2] == '*' or boot == ARGV[2])) then
  boot = marked(ARGV[3])
  redis.call('SET', KEYS[4], boot)
end
local g = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[4] ~= '1' and redis.call('GET', KEYS[3]) == boot then return {string.format('%.0f', g), boot} end
local floor = tonumber(ARGV[1])
if floor > g then g = floor end
g = (math.floor(g / ${GENERATION_ERA}) + 1) * ${GENERATION_ERA}
redis.call('SET', KEYS[1], string.format('%.0f', g))
redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[3], boot)
return {string.format('%.0f', g), boot}`,
};

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

/** Per key: SET NX PX of its lease. KEYS = leases; ARGV = owner, ms. Reply: per key 1 (taken) or 0. */
export const TAKE_LEASES: L2Script = {
  name: 'take-leases',
  source: `local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('SET', KEYS[i], ARGV[1], 'NX', 'PX', tonumber(ARGV[2])) and 1 or 0
end
return out`,
};

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
 *   see GENERATION: writes that did not see the entry's shape may have superseded it);
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

/**
 * Shares a writer claim among the app's instances (see `WriterClaims`): KEYS[1] = the schema's
 * `writerKey`, ARGV = the claim (`{mode} {identity}`), how long it is trusted (ms, Redis' clock).
 */
export const SHARE_WRITER_CLAIM: L2Script = {
  name: 'share-writer-claim',
  source: `return redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))`,
};

/** Every script the engine runs, e.g. to load them into a Redis ahead of time (`SCRIPT LOAD`). */
export const L2_SCRIPTS: readonly L2Script[] = [
  PUT,
  ORDERED_PUT,
  ORDERED_PUT_ENQUEUE,
  RESERVE,
  UNMARK,
  RESERVE_THROUGH,
  DROP,
  MARK,
  GENERATION,
  NEXT_GENERATION,
  RESET_GENERATION,
  SEED_COUNTER,
  COUNTER_VALUE,
  SHARE_WRITER_CLAIM,
  DUE_PEEK,
  RELAY_TAKE,
  RELAY_STORE,
  RELAY_RELEASE,
  TAKE_LEASES,
  BUMP_TAGS,
  READ_TAGS,
  PENDING,
];
