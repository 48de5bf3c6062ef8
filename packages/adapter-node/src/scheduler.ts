import type { Scheduler } from '@strata/core';

/**
 * Timers for a long-lived Node process, in the shape core's `config.scheduler` takes. Repeating
 * timers are unref'd: a periodic L1 sweep never keeps the process alive on its own. One-shot waits
 * (`after`: a retry's, a flush waiting on another consumer, a bus poll's deadline) are not: they
 * belong to work `close()` and `settled()` wait for (a write being settled), which an exiting process
 * would lose; a deadline is cancelled as soon as what it bounds ends.
 * @example new Strata({ scheduler: nodeScheduler(), l1: { sweepEvery: '30s' }, … })
 */
export function nodeScheduler(): Scheduler {
  return {
    every(ms, task) {
      const timer = setInterval(task, ms);
      timer.unref();
      return () => clearInterval(timer);
    },
    after(ms, task) {
      const timer = setTimeout(task, ms);
      return () => clearTimeout(timer);
    },
  };
}
