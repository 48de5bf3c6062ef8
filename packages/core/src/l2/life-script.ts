/** The last ARGV of a write script that carries the boot marker its instance knows (see `LIFE`). */
export const LIFE_SENTINEL = '~life';

/**
 * A write script's status when Redis is in a life its instance has not found (the boot marker is
 * gone or another): nothing was written. Reply `{tick, -7, the marker there ('' when none)}`.
 */
export const LIFE_CHANGED = -7;

/**
 * The prelude of every script that INCRs the tick (`{root}:tick`, KEYS[1]): a caller that knows the
 * boot marker appends KEYS = `{root}:boot` (the tick's hash slot) and ARGV = the marker and
 * `LIFE_SENTINEL`; the script writes nothing unless the marker is still there. The tick alone could
 * not tell: after Redis lost its data, other instances' scripts push it past the highest tick an
 * idle instance saw, and that instance then wrote its rows into a life whose live-shape registry
 * and marks it never joined (reliability/test/regression-write-into-unfound-life.test.ts). The tick
 * still tells a restore from an older snapshot (same marker, older tick). Taken off KEYS and ARGV
 * before anything else reads them (`SHAPE_TAIL` reads its own tail from the end), so the body sees
 * its usual arguments; without it (an older caller, a test) nothing changes. The marker is not set
 * here when missing: the caller resets, and its generation move sets it (`RESET_GENERATION`).
 */
export const LIFE = `if ARGV[#ARGV] == '${LIFE_SENTINEL}' then
local a, bk = #ARGV, table.remove(KEYS)
local known = ARGV[a - 1]
ARGV[a], ARGV[a - 1] = nil, nil
local boot = redis.call('GET', bk)
if boot ~= known then return {redis.call('INCR', KEYS[1]), ${LIFE_CHANGED}, boot or ''} end
end`;

/**
 * Appends the `LIFE` tail to a write script's call: the boot key (`{root}:boot`, beside the tick)
 * and the marker its instance knows. Nothing while it knows none (no generation read answered yet).
 */
export function lifeTail(life: string | undefined, bootKey: string, keys: string[], args: string[]): void {
  if (life === undefined) return;
  keys.push(bootKey);
  args.push(life, LIFE_SENTINEL);
}
