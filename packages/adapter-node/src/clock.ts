import { type Clock, timerClock } from '@strata/core/driver';

/**
 * The system clock read at most once per millisecond, by an unref'd timer (core's `timerClock`):
 * every L1 hit checks its entry's TTL against the clock, and where `Date.now()` is a system call
 * (~90 ns on some VMs, as much as the rest of the hit) that read was the dearest part of
 * `await strata.get` on a hot key. lru-cache caches its clock the same way. Core has no timers of
 * its own (it runs where they may not outlive a request), so the host brings them: `createStrata`
 * uses this clock unless given `clock`.
 * @example new Strata({ clock: nodeClock(), scheduler: nodeScheduler(), … })
 */
export function nodeClock(): Clock {
  return timerClock((ms, task) => {
    setTimeout(task, ms).unref();
  });
}
