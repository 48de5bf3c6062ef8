import { type Clock, systemClock } from '../clock.js';
import { systemTickClock } from '../l1/tick-clock.js';

/**
 * The engine's clock for everything it times (L1 TTLs, the stale and grace windows, the generation,
 * tag and poll intervals, L2 ages through the offset to Redis' clock): `wall` as it moves forward,
 * never back. A wall clock that steps back (NTP correcting a clock that ran ahead, a VM resumed from
 * a snapshot) would otherwise stretch every window measured across the step by the step's size: an
 * L1 copy of 1 s kept an hour, a 5 s generation or tag refresh not made for an hour. Here a step
 * back is taken up at once, and time goes on from the last reading at the wall clock's pace. What
 * passed between the last reading before the step and the first after it is not counted (the
 * wall clock cannot say), so a window may run that much longer: the gap between two reads, not the
 * step. Values meant for people or for Postgres (`autoNow` columns) take `wall` itself
 * (`wallClock`). A manual clock (tests) is taken as it is: tests step it back on purpose.
 */
class SteadyClock implements Clock {
  #shift = 0;
  #last = Number.NEGATIVE_INFINITY;
  /** The system clock is read through L1's per-run reading (see `systemTickClock`). */
  readonly #source: Clock;

  constructor(readonly wall: Clock) {
    this.#source = wall === systemClock ? systemTickClock : wall;
  }

  now(): number {
    const t = this.#source.now() + this.#shift;
    if (t >= this.#last) {
      this.#last = t;
      return t;
    }
    this.#shift += this.#last - t;
    return this.#last;
  }
}

/** `clock` never going back (see `SteadyClock`); a manual clock as it is. */
export function steadyClock(clock: Clock): Clock {
  return clock.manual || clock instanceof SteadyClock ? clock : new SteadyClock(clock);
}

/** The wall clock behind the engine's (`autoNow` columns): `clock` itself unless it is steadied. */
export function wallClock(clock: Clock): Clock {
  return clock instanceof SteadyClock ? clock.wall : clock;
}
