/*
 * The app's tag clock (`{root}:tagclock`) and its tags (`{root}:tag:…`) carry no TTL, but an
 * `allkeys-*` Redis evicts any of them alone (a FLUSH or an empty restart takes them all, but also
 * every cached row: a reset, found as such). Counted up again from nothing, a tag moved after the
 * clock's loss took a value at or below the stamps of rows read before its move, which were then
 * served over it; a tag evicted alone read as never moved, so the rows its last move refused were
 * served again (reliability/test/probe-tag-clock-loss.test.ts). As the search generation does
 * (search-generation.ts), the clock is never counted from a shared start: it counts only from 2^52
 * up, and a missing value (or one of an older Strata's scale) is replaced by a random seed (sent
 * as an argument), the start of a new epoch. A value's epoch is its bits above the low 22 (a tick
 * count per epoch); a row stamped in another epoch than the clock's is refused, and the tag read
 * (READ_TAGS) puts a tag that is missing or of another epoch at the clock's value: it moved no
 * later than now, so rows read before are refused, at the cost of one Postgres read each. Two
 * epochs collide with a chance of 2^-30 per loss; past 2^22 moves in one epoch the clock runs into
 * the next one (every tagged row is read once again).
 */

/** The lowest tag clock value that counts. */
export const TAG_LOW = 2 ** 52;
/** Ticks per epoch. */
export const TAG_EPOCH_TICKS = 2 ** 22;

/** A fresh seed: the first tick of a random epoch (30 bits, the last one left free to run into). */
export function tagSeed(): string {
  const [r] = crypto.getRandomValues(new Uint32Array(1));
  return String(TAG_LOW + Math.min(r! & 0x3fffffff, 0x3ffffffe) * TAG_EPOCH_TICKS);
}

/** A tag clock value's epoch; -1 for a value that does not count. */
export function tagEpoch(value: number): number {
  return value >= TAG_LOW ? Math.floor(value / TAG_EPOCH_TICKS) : -1;
}

/** The Lua that both tag scripts share: the bounds above and a number written as its digits. */
export const TAG_LUA = `local low = ${TAG_LOW}
local span = ${TAG_EPOCH_TICKS}
local function digits(n) return string.format('%.0f', n) end`;
