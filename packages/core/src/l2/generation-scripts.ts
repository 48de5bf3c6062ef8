import { GENERATION_ERA } from './envelope.js';
import { CAME_BACK } from './marks-script.js';
import { REGISTER } from './shape-scripts.js';
import type { L2Script } from './types.js';

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
${CAME_BACK}
local live = {}
if KEYS[5] and ARGV[4] then
  local back
  live, back = register(KEYS[5], ARGV[4], true)
  if back then
    redis.call('SET', KEYS[1], string.format('%.0f', tonumber(redis.call('GET', KEYS[1]) or '0') + 1))
    redis.call('INCR', KEYS[6])
    if KEYS[9] then came_back(KEYS[9]) end
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
