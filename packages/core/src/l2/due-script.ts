import type { L2Script } from './types.js';

/**
 * Lua for a write-behind script's deadline on Redis' own clock (ORDERED_PUT's `due`, see
 * engine/conditional-writes.ts): the caller stopped waiting for the reply by then, so a script that
 * reaches Redis later (held on the wire, sent again by a client) writes nothing and replies
 * {tick, -6}. Its one use: once Redis' clock is past `due`, whether the write landed is final, and a
 * flush can read it in L2. Needs `tick` and `due` ('': no deadline).
 */
export const PAST_DUE = `if due ~= '' then
  local t = redis.call('TIME')
  if t[1] * 1000 + t[2] / 1000 > tonumber(due) then return {tick, -6} end
end`;

/** ORDERED_PUT's status when it ran past its deadline (see `PAST_DUE`): nothing written. */
export const PAST_DUE_STATUS = -6;

/**
 * Reads, in one request, Redis' clock (ms) and a row key's entry in a schema's pending index (as
 * stored: `{version};{kind};{row}`, nil for none). KEYS = the pending index, the row key. Reply:
 * {now, entry}. What a conditional queued write is settled by (engine/conditional-writes.ts): read
 * once `now` is past its deadline, the entry is final.
 */
export const DUE_PEEK: L2Script = {
  name: 'due-peek',
  source: `local t = redis.call('TIME')
return {t[1] * 1000 + t[2] / 1000, redis.call('HGET', KEYS[1], KEYS[2])}`,
};
