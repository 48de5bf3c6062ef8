import { type Clock, systemClock } from '../clock.js';

/** Refreshes in a row that served a single read each before the clock goes direct. */
const LONELY_REFRESHES = 4;
/** Reads served straight from the clock before the per-tick cache is tried again. */
const DIRECT_READS = 1024;
/** How long a host timer lets a reading stand: lru-cache's `ttlResolution` default. */
const RESOLUTION_MS = 1;
/** Reads one reading serves at most under a host timer, for code that never yields to it. */
const TIMER_READS = 1_000;
/** "Until forgotten": more reads than a run makes, and still a small integer (a Smi, as 1,000 is). */
const UNTIL_FORGOTTEN = 2 ** 30 - 1;
const SETTLED = Promise.resolve();

/**
 * A one-shot timer from the host: runs `task` once after `ms`, and does not keep the process alive
 * for it (Node: `setTimeout(task, ms).unref()`). Core has no timers of its own.
 */
export type HostTimer = (ms: number, task: () => void) => void;

/**
 * A clock that reuses one reading of `source` for many reads. Per synchronous run (no `timer`): see
 * {@link tickClock}; by the host's timer: see {@link timerClock}. One class with one `now` for both
 * rules, its slow path a private method (no per-rule closure or subclass), so the L1 hit path's
 * `clock.now()` stays monomorphic whichever clock each tier was given: a read is a decrement and a
 * field load.
 */
class ReadingClock implements Clock {
  #reading = 0;
  /** Reads the current reading may still serve; 0 = read the source again. */
  #reads = 0;
  /** Per run: runs in a row that served one read; reads left that go straight to the source. */
  #lonely = 0;
  #direct = 0;
  /** By timer: a timer is set to forget the reading. */
  #pending = false;
  readonly #source: Clock;
  readonly #timer: HostTimer | undefined;

  constructor(source: Clock, timer?: HostTimer) {
    this.#source = source;
    this.#timer = timer;
  }

  now(): number {
    if (this.#reads > 0) {
      this.#reads--;
      return this.#reading;
    }
    return this.#timer === undefined ? this.#perRun() : this.#byTimer(this.#timer);
  }

  #perRun(): number {
    if (this.#direct > 0) {
      this.#direct--;
      return this.#source.now();
    }
    this.#reading = this.#source.now();
    this.#reads = UNTIL_FORGOTTEN - 1;
    // A reaction to a settled promise rather than queueMicrotask, which on Node makes an
    // AsyncResource per call (~3× the cost, paid by every awaited call that reads the clock).
    void SETTLED.then(this.#endRun);
    return this.#reading;
  }

  readonly #endRun = (): void => {
    // Reads this run served: its first, plus the ones taken off the count since.
    const served = UNTIL_FORGOTTEN - this.#reads;
    this.#reads = 0;
    this.#lonely = served === 1 ? this.#lonely + 1 : 0;
    if (this.#lonely >= LONELY_REFRESHES) {
      this.#lonely = 0;
      this.#direct = DIRECT_READS;
    }
  };

  #byTimer(timer: HostTimer): number {
    this.#reading = this.#source.now();
    this.#reads = TIMER_READS - 1;
    // One timer at a time: code that never yields re-reads by count, without piling timers up.
    if (!this.#pending) {
      this.#pending = true;
      timer(RESOLUTION_MS, this.#forget);
    }
    return this.#reading;
  }

  readonly #forget = (): void => {
    this.#pending = false;
    this.#reads = 0;
  };
}

/**
 * `clock` read at most once per turn of the microtask queue: the first `now()` of a synchronous
 * run reads it and queues a microtask that forgets the value, so the next run reads again. A loop
 * of synchronous L1 hits pays one clock read instead of one per hit (`Date.now()` is a syscall on
 * some VMs, dearer than the whole Map lookup). Within one synchronous run time stands still, as for
 * code that read the clock once at its start; it never goes back.
 *
 * Where every run reads once (a loop of `await get`), the microtask would cost more than it saves:
 * after a few such runs in a row the clock is read directly for the next DIRECT_READS reads, then
 * the cache is tried again. Either way no read is older than the current run. A host with timers
 * does better with {@link timerClock}.
 *
 * Only for a real clock: a manual clock is cheap, and tests move it between synchronous calls.
 */
export function tickClock(clock: Clock): Clock {
  return new ReadingClock(clock);
}

/**
 * `source` (default: the system clock) read at most once per millisecond, by the host's timer: a
 * reading serves every read until a RESOLUTION_MS timer forgets it, and never more than TIMER_READS
 * reads (code that never yields to the timer still sees time move). Unlike {@link tickClock} it
 * also spares a loop of `await get` a clock read per hit, as lru-cache spares its own. A reading is
 * late by up to the resolution, or by a turn of the event loop when the timer is held up.
 * @example new Strata({ clock: timerClock((ms, task) => setTimeout(task, ms).unref()), … })
 */
export function timerClock(timer: HostTimer, source: Clock = systemClock): Clock {
  return new ReadingClock(source, timer);
}

/** The system clock behind every L1 that was given no clock (or `systemClock`): one per isolate. */
export const systemTickClock: Clock = tickClock(systemClock);
