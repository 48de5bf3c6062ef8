import { type Clock, systemClock } from '../clock.js';
import { systemTickClock } from '../l1/tick-clock.js';

/**
 * The engine's clock for everything it times (L1 TTLs, the stale and grace windows, the generation,
 * tag and poll intervals, L2 ages through the offset to Redis' clock): `wall` as it moves forward,
 * never back. A wall clock that steps back (NTP correcting a clock that ran ahead, a VM resumed from
 * a snapshot) would otherwise stretch every window measured across the step by the step's size: an
 * L1 copy of 1 s kept an hour, a 5 s generation or tag refresh not made for an hour. Here a step
 * back is taken up at once, and time goes on from the last reading at the wall clock's pace. What
 * passed between the last reading before the step and the first after it is counted on the
 * monotonic clock (`performance.now()`, which no step moves): the wall clock cannot say, and an
 * instance idle across a step (no request, no timer) would otherwise count none of it — a writer
 * claim (`WriterClaims`) trusted as 0 s old after 70 s, past its 60 s lease, and writes
 * acknowledged under another app's table and lost at their flush
 * (`reliability/test/probe-hostile-6.test.ts`). Values meant for people or for Postgres (`autoNow`
 * columns) take `wall` itself (`wallClock`). A manual clock (tests) is taken as it is: tests step
 * it back on purpose.
 */
class SteadyClock implements Clock {
  #shift = 0;
  #last = Number.NEGATIVE_INFINITY;
  /** The monotonic reading taken with `#last` (only when the wall reading moved: one per tick). */
  #lastElapsed = 0;
  /** The system clock is read through L1's per-run reading (see `systemTickClock`). */
  readonly #source: Clock;

  constructor(
    readonly wall: Clock,
    readonly elapsed: () => number,
  ) {
    this.#source = wall === systemClock ? systemTickClock : wall;
  }

  now(): number {
    const t = this.#source.now() + this.#shift;
    if (t === this.#last) return t;
    if (t > this.#last) {
      this.#last = t;
      this.#lastElapsed = this.elapsed();
      return t;
    }
    // Stepped back: on from the last reading by what the monotonic clock saw pass since.
    const at = this.elapsed();
    const next = this.#last + Math.max(0, Math.floor(at - this.#lastElapsed));
    this.#shift += next - t;
    this.#last = next;
    this.#lastElapsed = at;
    return next;
  }
}

/**
 * `clock` never going back (see `SteadyClock`); a manual clock as it is. `elapsed`: a monotonic
 * millisecond clock, to count the time across a step back.
 */
export function steadyClock(clock: Clock, elapsed: () => number = () => performance.now()): Clock {
  return clock.manual || clock instanceof SteadyClock ? clock : new SteadyClock(clock, elapsed);
}

/** The wall clock behind the engine's (`autoNow` columns): `clock` itself unless it is steadied. */
export function wallClock(clock: Clock): Clock {
  return clock instanceof SteadyClock ? clock.wall : clock;
}
