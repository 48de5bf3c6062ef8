import { StrataError } from '../errors.js';

interface Pending {
  /** When it times out (ms, `now()`'s clock). */
  readonly at: number;
  readonly what: string;
  readonly reject: (err: unknown) => void;
  readonly hooks: RaceHooks<never> | undefined;
  settled: boolean;
}

/**
 * What a caller of {@link Deadlines.race} does around the outcome, inside the race's own callbacks:
 * no `.then` (a promise and a turn of the microtask queue) per call on top of it.
 */
export interface RaceHooks<T> {
  /** Runs when the work settles, in time or late (to time the call), with `race`'s `token`. */
  settled?(token: number): void;
  /** Runs before the race resolves with the work's value; may throw to reject it instead. */
  resolved?(value: T): void;
  /** What the race rejects with instead of `error` (the work's, or the TIMEOUT). */
  rejection?(error: unknown): unknown;
}

/**
 * Time limits for many calls that share one duration (every call of a guarded L2), kept with ONE
 * timer instead of a `setTimeout` per call: a call adds its deadline to a queue (in order, since
 * the duration is the same), the timer is armed for the earliest live one. When no call is out,
 * a runtime whose timers can be unreferenced (Node) keeps the timer armed but unreferenced, so it
 * holds no process open and the next call re-references it instead of arming a new one (calls one
 * after another were a `setTimeout` and a `clearTimeout` each: more than the rest of an L2 hit's
 * bookkeeping); when it fires with no call out it is gone. Elsewhere (a Worker) it is cleared at
 * once, so nothing outlives the calls of a request. `clear()` drops it either way (a close, a test).
 *
 * As with `withTimeout`, the work is not cancelled; its late outcome is still observed, so a
 * rejection after the timeout never surfaces as an unhandled rejection.
 *
 * @example
 * const deadlines = new Deadlines(500);
 * const values = await deadlines.race(l2.getMany(keys), 'L2 getMany');
 * // after 500 ms: StrataError { code: 'TIMEOUT', message: 'strata: L2 getMany timed out after 500 ms' }
 */
export class Deadlines {
  #queue: Pending[] = [];
  #head = 0;
  #live = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The timer is armed but unreferenced: no call is out (see the class comment). */
  #idle = false;
  /** The deadline the timer is armed for: when it fires, that one has passed whatever `now()` says. */
  #armedFor = 0;

  constructor(
    readonly ms: number,
    readonly now: () => number = Date.now,
  ) {}

  /** Calls whose outcome is still awaited (for tests and leak checks). */
  get size(): number {
    return this.#live;
  }

  /**
   * Settles like `work`, or rejects with `StrataError('TIMEOUT')` once `ms` have passed since
   * `startedAt` (on `now`'s clock: a caller that read it already passes its reading, and the clock
   * is read once, not twice; it is a system call on some VMs); `hooks` (shared by many calls:
   * `token`, e.g. a start time, tells them apart) run around the outcome.
   */
  race<T>(
    work: PromiseLike<T>,
    what: string,
    hooks?: RaceHooks<T>,
    token = 0,
    startedAt = this.now(),
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = {
        at: startedAt + this.ms,
        what,
        reject,
        hooks: hooks as RaceHooks<never> | undefined,
        settled: false,
      };
      this.#queue.push(pending);
      this.#live += 1;
      if (this.#timer === undefined) this.#arm(pending.at, this.ms);
      else if (this.#idle) {
        this.#idle = false;
        // Armed for an earlier deadline (the same duration, from an earlier call): it fires in
        // time and re-arms for this one. A clock that went back may have left it later: re-arm.
        if (this.#armedFor > pending.at) {
          clearTimeout(this.#timer);
          this.#arm(pending.at, this.ms);
        } else refHandle(this.#timer)?.ref();
      }
      work.then(
        (value) => {
          const inTime = this.#settle(pending);
          try {
            hooks?.settled?.(token);
            if (inTime) hooks?.resolved?.(value);
          } catch (error) {
            // A throwing hook fails the call like the work failing (late: its caller has the TIMEOUT).
            if (inTime) rejectWith(pending, error);
            return;
          }
          if (inTime) resolve(value);
        },
        (error: unknown) => {
          const inTime = this.#settle(pending);
          try {
            hooks?.settled?.(token);
          } catch (thrown) {
            if (inTime) rejectWith(pending, thrown);
            return;
          }
          if (inTime) rejectWith(pending, error);
        },
      );
    });
  }

  /** Marks a call settled; false when its time limit already rejected it. */
  #settle(pending: Pending): boolean {
    if (pending.settled) return false;
    pending.settled = true;
    this.#live -= 1;
    if (this.#live === 0) {
      // Idle: the queue holds only settled calls; the timer stays only where it holds nothing open.
      this.#queue.length = 0;
      this.#head = 0;
      if (this.#timer !== undefined) {
        const handle = refHandle(this.#timer);
        if (handle) {
          handle.unref();
          this.#idle = true;
        } else this.clear();
      }
    }
    return true;
  }

  /** Drops the idle timer (a close); the next call arms a new one. Calls out keep theirs. */
  clear(): void {
    if (this.#live > 0) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#idle = false;
  }

  #arm(at: number, delay: number): void {
    this.#armedFor = at;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, delay));
  }

  #fire(): void {
    this.#timer = undefined;
    this.#idle = false;
    const now = Math.max(this.now(), this.#armedFor);
    const queue = this.#queue;
    while (this.#head < queue.length) {
      const pending = queue[this.#head]!;
      if (!pending.settled) {
        if (pending.at > now) break;
        pending.settled = true;
        this.#live -= 1;
        rejectWith(pending, timeout(pending.what, this.ms));
      }
      this.#head += 1;
    }
    if (this.#live === 0) {
      this.#queue.length = 0;
      this.#head = 0;
      return;
    }
    // Drop what is behind the head now and then, so a busy queue does not only grow.
    if (this.#head > 1024) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
    const next = this.#queue[this.#head]!;
    this.#arm(next.at, next.at - now);
  }
}

interface RefHandle {
  ref(): unknown;
  unref(): unknown;
}

/** The timer as a handle that can stop holding the process open (Node), or undefined (a Worker's number). */
function refHandle(timer: ReturnType<typeof setTimeout>): RefHandle | undefined {
  const handle = timer as unknown as Partial<RefHandle> | number;
  return typeof handle === 'object' && typeof handle.unref === 'function' && typeof handle.ref === 'function'
    ? (handle as RefHandle)
    : undefined;
}

/** Rejects a call with `error`, or with what its `rejection` hook makes of it. */
function rejectWith(pending: Pending, error: unknown): void {
  const map = pending.hooks?.rejection;
  if (!map) {
    pending.reject(error);
    return;
  }
  let mapped: unknown;
  try {
    mapped = map(error);
  } catch (thrown) {
    mapped = thrown;
  }
  pending.reject(mapped);
}

function timeout(what: string, ms: number): StrataError {
  return new StrataError('TIMEOUT', `${what} timed out after ${ms} ms`, { details: { what, timeoutMs: ms } });
}
