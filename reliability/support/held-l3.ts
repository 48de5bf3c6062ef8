import type { L3Tier } from '@strata/core';
import { wrapL3 } from './wrap-l3.js';

/**
 * `base` (a real L3) whose next `write` after `holdNext()` waits, before Postgres sees it, until
 * `open()`; `reached()` says it got there. A probe holds a write between its version reservation
 * and its commit (a slow Postgres, a lock wait) deterministically, without sleeps.
 */
export function heldL3(base: L3Tier) {
  let hold = false;
  let reached = false;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  const l3 = wrapL3(base, {
    write: async (ops) => {
      if (hold) {
        hold = false;
        reached = true;
        await opened;
      }
      return base.write(ops);
    },
  });
  return { l3, holdNext: () => (hold = true), reached: () => reached, open };
}
