/*
 * The Lua scripts behind every L2 write. Each is atomic (Redis runs one script at a time), so a
 * compare and the write it guards cannot be split by another instance. They read only an
 * envelope's header (GETRANGE of its first bytes; see envelope.ts), never a whole row. Versions go
 * to Lua as doubles, exact below 2^53, and back to text through '%.0f' (plain `..` would print 14
 * significant digits).
 */

/** The header of the value at key i: kind, pending flag, version (nil for a foreign value). */
export const HEADER = `local function header(key)
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

/** Refuses (status -4, then the current generation) a write whose keys name another generation. */
export const SAME_GENERATION = `local current = redis.call('GET', KEYS[2]) or '0'
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
export const WROTE = `local wk = KEYS[2] .. ':w'
local function slot(k) return string.sub(redis.sha1hex(k), 1, 2) end
local function wrote(k)
  redis.call('HSETNX', wk, '*', tick)
  redis.call('HSET', wk, slot(k), tick)
end
local function late(k, rt)
  local w = redis.call('HMGET', wk, '*', slot(k))
  return w[1] and (tonumber(w[1]) > rt or tonumber(w[2] or '0') > rt)
end`;
