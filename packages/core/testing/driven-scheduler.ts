import type { Scheduler } from '../src/scheduler.js';

/** A one-shot wait core asked the scheduler for: its length, and what runs when it is over. */
export interface DrivenWait {
  readonly ms: number;
  readonly task: () => void;
}

/**
 * A scheduler whose one-shot waits (`after`) run only when the test says: core's waits (and a bus
 * poll's deadline) then need no sleep in a test, and a test sees each one's length; one core
 * cancels leaves `waits` and joins `cancelled` (a deadline whose call answered in time, even after
 * `next` took it). Repeating work (`every`) never runs.
 *
 * @example
 * const driven = drivenScheduler();
 * const strata = new Strata({ scheduler: driven.scheduler, … });
 * const wait = await driven.next(); // the next wait core began
 * expect(wait.ms).toBe(25);
 * wait.task();
 */
export function drivenScheduler() {
  const waits: DrivenWait[] = [];
  const cancelled: DrivenWait[] = [];
  let woken: (() => void) | undefined;
  const scheduler: Scheduler = {
    every: () => () => {},
    after(ms, task) {
      const wait = { ms, task };
      waits.push(wait);
      woken?.();
      // Cancelled (a deadline whose call ended first): out of `waits`, unless `next` took it already.
      return () => {
        const at = waits.indexOf(wait);
        if (at >= 0) waits.splice(at, 1);
        if (!cancelled.includes(wait)) cancelled.push(wait);
      };
    },
  };
  return {
    scheduler,
    /** The waits begun and not taken by `next` yet, oldest first. */
    waits,
    /** The waits core cancelled, in the order it did. */
    cancelled,
    /** The oldest wait not taken yet, once core begins one; rejects if none began within `withinMs`. */
    async next(withinMs = 5_000): Promise<DrivenWait> {
      const deadline = Date.now() + withinMs;
      while (waits.length === 0) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no wait began on the scheduler within ${withinMs} ms`);
        // Woken by the next `after`, or by the bound.
        let bound: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((resolve) => {
          woken = resolve;
          bound = setTimeout(resolve, left);
        });
        clearTimeout(bound);
        woken = undefined;
      }
      return waits.shift()!;
    },
  };
}
