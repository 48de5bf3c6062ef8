import { orderedPut } from './ordered-put-scripts.js';
import type { L2Script } from './types.js';

/**
 * ORDERED_PUT's publish (see `orderedPut` and `ScriptedPublish`): five ARGV from `ARGV[p]` are a
 * channel, the set and the delete message's heads (`{"origin":…,"schema":…,"ids":[…],"versions":[`),
 * their common part after the op ('' now that the origin leads the head; an older adapter sent it
 * there), and the bucket's life as the writer's watch tells it (`{boot}:{tick}`; '' unknown: no
 * ticks, as `L2Watch.told`). Once every row is written, the script PUBLISHes each message the batch has
 * (sets, then deletes): the head, its ids' versions in order, the op, the rest, and ticks with the
 * script's own tick, `{head}{versions}],"op":"{op}"{after}{ticks}}`, as `encodeInvalidation` writes it.
 */
const publishWritten = (p: number, base: number, per: number) => `local vs = {r = {}, a = {}}
for i = 1, n do local k = vs[ARGV[${base} + (i - 1) * ${per}]]; k[#k + 1] = versions[i] end
local life = string.match(ARGV[${p + 4}], '^([%w@]+:)%d+$')
local tk = life and ',"ticks":["' .. life .. string.format('%.0f', tick) .. '"]' or ''
for j, op in ipairs({'set', 'delete'}) do
  local k = vs[j == 1 and 'r' or 'a']
  if #k > 0 then redis.call('PUBLISH', ARGV[${p}], ARGV[${p} + j] .. table.concat(k, ',') .. '],"op":"' .. op .. '"' .. ARGV[${p + 3}] .. tk .. '}') end
end
`;

/**
 * ORDERED_PUT and ORDERED_PUT_ENQUEUE that also PUBLISH the batch's invalidation messages on a bus in
 * the same Redis: a write-behind `set` with the pub/sub bus in one round trip. Only a bus that can
 * use them (adapter-node's Redis pub/sub) imports them: a Worker does not bundle them.
 */
export const ORDERED_PUT_PUBLISH: readonly [L2Script, L2Script] = /* @__PURE__ */ [
  { name: 'ordered-put-publish', source: /* @__PURE__ */ orderedPut(false, 5, publishWritten) },
  { name: 'ordered-put-enqueue-publish', source: /* @__PURE__ */ orderedPut(true, 5, publishWritten) },
];
