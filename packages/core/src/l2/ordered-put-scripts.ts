import { PAST_DUE } from './due-script.js';
import { ROW_WRITE_HEAD } from './row-write-head.js';
import type { L2Script } from './types.js';

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
  return `${ROW_WRITE_HEAD}
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
