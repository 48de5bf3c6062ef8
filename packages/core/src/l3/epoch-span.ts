// Its own file: the engine (Redis-ordered versions) and the Drizzle L3 (the epoch row) share it,
// and the engine must not load the L3 implementation.

/**
 * Redis-ordered versions of one epoch are `epoch * EPOCH_SPAN + n`: 2^36 (68 billion writes) per
 * epoch, 131,071 epochs below 2^53. Every reseed of a counter takes a new epoch (a Redis that lost
 * its data twice in a row must not hand out the same versions twice).
 */
export const EPOCH_SPAN = 2 ** 36;

/**
 * The last epoch whose versions all stay below 2^53 (131,071): past it a version loses precision and
 * two writes' order breaks silently, so a seed past it is refused (engine/epoch-limit.ts).
 */
export const LAST_EPOCH = 2 ** 53 / EPOCH_SPAN - 1;
