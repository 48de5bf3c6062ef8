import { type Clock, timerClock } from '@strata/core/driver';

/**
 * The system clock read at most once per macrotask (core's `timerClock`, its reading forgotten by a
 * `process.nextTick` instead of a timer): every L1 hit checks its entry's TTL against the clock, and
 * where `Date.now()` is a system call (~90 ns on some VMs, as much as the rest of the hit) that read
 * was the dearest part of `await strata.get` on a hot key. A loop of `await get` runs in one
 * macrotask (promise jobs only: Node runs the tick queue once they are drained), so it reads the
 * clock once per 1,000 reads, as lru-cache reads its own. Core has no timers of its own (it runs
 * where they may not outlive a request), so the host brings them: `createStrata` uses this clock
 * unless given `clock`.
 *
 * Why not a 1 ms timer (as before, and as lru-cache does): under traffic the clock is read every
 * millisecond, so a timer set again each time was always about to fall due, and every I/O wait of
 * the process paid for it: a loop of raw ioredis GETs took ~40 % more CPU per call beside it, an L2
 * hit through Strata ~1.3–1.5× the CPU it takes on core's default clock (docs/performance.md,
 * seventeenth pass). A tick callback arms nothing in the event loop, and runs before the process
 * returns to it: no reading outlives the macrotask that took it, so none is held across an I/O wait
 * (a `setImmediate` measured alike, but is forgotten only after the next poll).
 * @example new Strata({ clock: nodeClock(), scheduler: nodeScheduler(), … })
 */
export function nodeClock(): Clock {
  return timerClock((_ms, task) => {
    process.nextTick(task);
  });
}
