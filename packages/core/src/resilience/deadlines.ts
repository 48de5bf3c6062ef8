import { StrataError } from '../errors.js';

interface Pending {
  /** When it times out (ms, `now()`'s clock). */
  readonly at: number;
  readonly what: string;
  readonly reject: (err: unknown) => void;
  settled: boolean;
}

/**
 * Time limits for many calls that share one duration (every call of a guarded L2), kept with ONE
 * timer instead of a `setTimeout` per call: a call adds its deadline to a queue (in order, since
 * the duration is the same), the timer is armed for the earliest live one, and it is cleared as
 * soon as no call is out, so nothing outlives the calls (a Worker's request, a test).
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

  /** Settles like `work`, or rejects with `StrataError('TIMEOUT')` once `ms` have passed. */
  race<T>(work: PromiseLike<T>, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = { at: this.now() + this.ms, what, reject, settled: false };
      this.#queue.push(pending);
      this.#live += 1;
      if (this.#timer === undefined) this.#arm(pending.at, this.ms);
      work.then(
        (value) => {
          if (this.#settle(pending)) resolve(value);
        },
        (error: unknown) => {
          if (this.#settle(pending)) reject(error);
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
      // Idle: no timer left behind, and the queue holds only settled calls.
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#queue = [];
      this.#head = 0;
    }
    return true;
  }

  #arm(at: number, delay: number): void {
    this.#armedFor = at;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, delay));
  }

  #fire(): void {
    this.#timer = undefined;
    const now = Math.max(this.now(), this.#armedFor);
    const queue = this.#queue;
    while (this.#head < queue.length) {
      const pending = queue[this.#head]!;
      if (!pending.settled) {
        if (pending.at > now) break;
        pending.settled = true;
        this.#live -= 1;
        pending.reject(timeout(pending.what, this.ms));
      }
      this.#head += 1;
    }
    if (this.#live === 0) {
      this.#queue = [];
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

function timeout(what: string, ms: number): StrataError {
  return new StrataError('TIMEOUT', `${what} timed out after ${ms} ms`, { details: { what, timeoutMs: ms } });
}
