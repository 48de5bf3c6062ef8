import type { L3Tier } from '@strata/core';
import { wrapL3 } from './wrap-l3.js';

/** Where a held call waits: before Postgres sees it, or after Postgres answered (its reply held). */
export type HoldAt = 'before' | 'reply';

/**
 * The gate a probe puts on one L3 call, deterministically, without sleeps: `holdNext()` arms it for
 * the next call, `reached()` says that call waits at it, `open()` lets it go on, and `done` resolves
 * once the held call has settled (answered or failed).
 */
function gate(at: HoldAt) {
  let armed = false;
  let reached = false;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  let settle!: () => void;
  const done = new Promise<void>((resolve) => {
    settle = resolve;
  });
  const around = async <T>(call: () => Promise<T>): Promise<T> => {
    if (!armed) return call();
    armed = false;
    try {
      if (at === 'before') {
        reached = true;
        await opened;
        return await call();
      }
      const reply = await call();
      reached = true;
      await opened;
      return reply;
    } finally {
      settle();
    }
  };
  return { around, control: { holdNext: () => (armed = true), reached: () => reached, open, done } };
}

/**
 * `base` (a real L3) whose next `write` after `holdNext()` waits until `open()`: `before` Postgres
 * sees it (a slow Postgres, a lock wait: a write held between its version reservation and its
 * commit), or after it committed, its `reply` held (a slow network before the writer settles L2).
 */
export function heldL3(base: L3Tier, at: HoldAt = 'before') {
  const { around, control } = gate(at);
  const l3 = wrapL3(base, { write: (ops) => around(() => base.write(ops)) });
  return { l3, ...control };
}

/**
 * `base` whose next `findMany` after `holdNext()` reads Postgres, then holds the reply until
 * `open()`: a read that saw the row as it was before a write, and answers (and fills the caches)
 * only after it (a slow network, a stalled event loop).
 */
export function heldReadL3(base: L3Tier) {
  const { around, control } = gate('reply');
  const l3 = wrapL3(base, { findMany: (schema, ids) => around(() => base.findMany(schema, ids)) });
  return { l3, ...control };
}

/**
 * `base` whose `write` may be held again and again (a model test holds many statements, one at a
 * time; `heldL3`'s gate is one-shot): `holdNext(at)` arms a fresh gate for the next `write` and
 * returns its control; `disarm()` drops a gate no call reached (the operation needed no L3 write,
 * e.g. a write-behind set that only queued).
 */
export function reusableHeldL3(base: L3Tier) {
  let current: ReturnType<typeof gate> | undefined;
  const l3 = wrapL3(base, {
    write: (ops) => (current ? current.around(() => base.write(ops)) : base.write(ops)),
  });
  return {
    l3,
    /** `at`: hold it before Postgres sees it (default), or after it committed, its reply held. */
    holdNext(at: HoldAt = 'before') {
      current = gate(at);
      current.control.holdNext();
      return current.control;
    },
    disarm: () => {
      current = undefined;
    },
  };
}
