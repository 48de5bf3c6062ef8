import { type Clock, systemClock } from '../clock.js';

/** Refreshes in a row that served a single read each before the clock goes direct. */
const LONELY_REFRESHES = 4;
/** Reads served straight from the clock before the per-tick cache is tried again. */
const DIRECT_READS = 1024;

/**
 * `clock` read at most once per turn of the microtask queue: the first `now()` of a synchronous
 * run reads it and queues a microtask that forgets the value, so the next run reads again. A loop
 * of synchronous L1 hits pays one clock read instead of one per hit (`Date.now()` is a syscall on
 * some VMs, dearer than the whole Map lookup). Within one synchronous run time stands still, as for
 * code that read the clock once at its start; it never goes back.
 *
 * Where every run reads once (a loop of `await get`), the microtask would cost more than it saves:
 * after a few such runs in a row the clock is read directly for the next DIRECT_READS reads, then
 * the cache is tried again. Either way no read is older than the current run.
 *
 * Only for a real clock: a manual clock is cheap, and tests move it between synchronous calls.
 */
export function tickClock(clock: Clock): Clock {
  let now = 0;
  let fresh = false;
  let readsThisRun = 0;
  let lonely = 0;
  let direct = 0;
  const forget = (): void => {
    fresh = false;
    lonely = readsThisRun === 1 ? lonely + 1 : 0;
    if (lonely >= LONELY_REFRESHES) {
      lonely = 0;
      direct = DIRECT_READS;
    }
  };
  return {
    now(): number {
      if (direct > 0) {
        direct--;
        return clock.now();
      }
      if (fresh) {
        readsThisRun++;
        return now;
      }
      now = clock.now();
      fresh = true;
      readsThisRun = 1;
      queueMicrotask(forget);
      return now;
    },
  };
}

/** The system clock behind every L1 that was given no clock (or `systemClock`): one per isolate. */
export const systemTickClock: Clock = tickClock(systemClock);
