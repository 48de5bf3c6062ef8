import { StrataError } from '../errors.js';
import { entryFromPttl, integerReply } from './redis-values.js';
import type { L2Entry } from './types.js';

/**
 * One Lua call that reads every key's value and PTTL at the same instant (a script is atomic, so a
 * value never pairs with the TTL of a later write). The reply is flat: `[pttl1, tagged1, pttl2, …]`.
 *
 * Values come back tagged with a leading `~` and a missing key as `''` (a nil would end a Lua
 * table). The tag is what makes the reply safe from a client that JSON-parses every string it
 * receives (`@upstash/redis` with `automaticDeserialization`): `~…` is never valid JSON, so it is
 * always handed over as the raw string, and '42' or '{"a":1}' cannot turn into a number or object.
 */
export const GET_WITH_TTL_SCRIPT = `local out = {}
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value then
    out[2 * i - 1] = redis.call('PTTL', key)
    out[2 * i] = '~' .. value
  else
    out[2 * i - 1] = -2
    out[2 * i] = ''
  end
end
return out`;

/** Entries, in key order, from the script's reply for `count` keys. */
export function decodeGetWithTtl(reply: unknown, count: number): (L2Entry | null)[] {
  if (!Array.isArray(reply) || reply.length !== count * 2) {
    throw new StrataError('L2_UNAVAILABLE', `L2 getMany: unexpected reply for ${count} keys`, {
      details: { expectedLength: count * 2, length: Array.isArray(reply) ? reply.length : null },
    });
  }
  const entries: (L2Entry | null)[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const pttl = integerReply(reply[2 * i], 'getMany PTTL');
    const tagged: unknown = reply[2 * i + 1];
    if (typeof tagged !== 'string' || (tagged !== '' && !tagged.startsWith('~'))) {
      throw new StrataError('L2_UNAVAILABLE', 'L2 getMany: unexpected value in reply', {
        details: { index: i },
      });
    }
    entries[i] = tagged === '' ? null : entryFromPttl(tagged.slice(1), pttl);
  }
  return entries;
}
