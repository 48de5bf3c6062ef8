/**
 * How many open Strata instances use each L2 or write queue object they were given. Two instances
 * may share one (two apps in one process, tests): the first to close must not close it under the
 * other, so a tier is closed by the last instance that uses it. One instance alone closes what it
 * was given at its `close()`, as before (`createStrata`'s shutdown relies on it).
 */
const users = new WeakMap<object, number>();

/** Counts one more instance using `tier`. */
export function shareTier(tier: object | undefined): void {
  if (tier) users.set(tier, (users.get(tier) ?? 0) + 1);
}

/** Counts one instance less; true when it was the last (the caller then closes `tier`). */
export function lastUser(tier: object | undefined): boolean {
  if (!tier) return false;
  const left = (users.get(tier) ?? 1) - 1;
  if (left > 0) users.set(tier, left);
  else users.delete(tier);
  return left === 0;
}
