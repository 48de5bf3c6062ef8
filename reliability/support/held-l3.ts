import type { L3Tier } from '@strata/core';
import { wrapL3 } from './wrap-l3.js';

/** A gate a probe closes on one L3 call: `holdNext()` arms it, `reached()` says a call waits at it, `open()` lets it go on. */
function gate() {
  let hold = false;
  let reached = false;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  /** Waits until `open()` when armed (once: the next call only). */
  const pass = async () => {
    if (!hold) return;
    hold = false;
    reached = true;
    await opened;
  };
  return { pass, holdNext: () => (hold = true), reached: () => reached, open };
}

/**
 * `base` (a real L3) whose next `write` after `holdNext()` waits, before Postgres sees it, until
 * `open()`; `reached()` says it got there. A probe holds a write between its version reservation
 * and its commit (a slow Postgres, a lock wait) deterministically, without sleeps.
 */
export function heldL3(base: L3Tier) {
  const { pass, ...control } = gate();
  const l3 = wrapL3(base, {
    write: async (ops) => {
      await pass();
      return base.write(ops);
    },
  });
  return { l3, ...control };
}

/**
 * `base` whose next `findMany` after `holdNext()` reads Postgres, then holds the reply until
 * `open()`: a read that saw the row as it was before a write, and answers (and fills the caches)
 * only after it (a slow network, a stalled event loop), without sleeps.
 */
export function heldReadL3(base: L3Tier) {
  const { pass, ...control } = gate();
  const l3 = wrapL3(base, {
    findMany: async (schema, ids) => {
      const found = await base.findMany(schema, ids);
      await pass();
      return found;
    },
  });
  return { l3, ...control };
}
