import type { Scheduler } from '@strata/core';

/**
 * Repeating timers for a long-lived Node process, in the shape core's `config.scheduler` takes.
 * Timers are unref'd: a periodic L1 sweep never keeps the process alive on its own.
 * @example new Strata({ scheduler: nodeScheduler(), l1: { sweepEvery: '30s' }, … })
 */
export function nodeScheduler(): Scheduler {
  return {
    every(ms, task) {
      const timer = setInterval(task, ms);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}
