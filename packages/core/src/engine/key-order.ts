import type { CompiledSchema } from '../schema/types.js';
import { idKey, normalizeId } from './ids.js';

/** A write's place in the call order of its keys (see `KeyOrder`). */
export interface Turn {
  /** Settles once the earlier writes of these keys are far enough; undefined when none was out. */
  readonly ready: Promise<void> | undefined;
  /** Its batch holds it (write-behind): the next batched write of these keys may go. */
  admit(): void;
  /** It is done, or failed: every next write of these keys may go. Idempotent. */
  release(): void;
}

/** How far the earlier writes of a claim's keys must be before it goes. */
export type After = 'admitted' | 'settled';

interface Tail {
  /** Settles once this claim and every earlier one of its keys are admitted (or settled). */
  readonly admitted: Promise<void>;
  /** Settles once this claim and every earlier one of its keys are settled. */
  readonly settled: Promise<void>;
}

const NO_TURN: Turn = { ready: undefined, admit: () => {}, release: () => {} };
const done = () => {};

/**
 * Call order per key, within one instance: the writes of one key take effect in the order in which
 * they were called, whatever each spends before reaching a tier (a `beforeSet` hook, validation,
 * encryption; a `delete` has none of these and would otherwise pass a `set` called just before it).
 *
 * A write claims its keys when it is called (synchronously, so claims are in call order) and waits,
 * before it reaches the writer, for the earlier claims of those keys. A write-behind set or delete
 * waits until they are `admitted`: their batch holds them (batches leave in order and take
 * increasing versions), or they settled. Anything else (write-through, a transaction, which takes
 * its versions apart from the batches) waits until they `settled`: Postgres answered (two
 * statements on two pool connections commit in any order) or they failed. A claim counts as
 * admitted or settled only once every earlier one of its keys is too, so one that fails early
 * never lets a later write pass one still out. Writes of other keys never wait. Claims only wait
 * for earlier ones, so waits never form a cycle, whatever keys (or schemas) they span.
 *
 * @example
 * const turn = order.claim([key], 'settled');
 * try { if (turn.ready) await turn.ready; await write(); } finally { turn.release(); }
 */
export class KeyOrder {
  readonly #tails = new Map<string, Tail>();

  claim(keys: Iterable<string>, after: After): Turn {
    const unique = [...new Set(keys)];
    if (unique.length === 0) return NO_TURN;
    let admit!: () => void;
    let settle!: () => void;
    const admittedHere = new Promise<void>((resolve) => {
      admit = resolve;
    });
    const settledHere = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const admitted: Promise<void>[] = [];
    const settled: Promise<void>[] = [];
    for (const key of unique) {
      const tail = this.#tails.get(key);
      if (tail) {
        admitted.push(tail.admitted);
        settled.push(tail.settled);
      }
    }
    const mine: Tail =
      settled.length === 0
        ? { admitted: admittedHere, settled: settledHere }
        : {
            admitted: Promise.all([...admitted, admittedHere]).then(done),
            settled: Promise.all([...settled, settledHere]).then(done),
          };
    for (const key of unique) this.#tails.set(key, mine);
    // Forgotten once it and every earlier claim of its keys settled, unless a later claim took over.
    void mine.settled.then(() => {
      for (const key of unique) if (this.#tails.get(key) === mine) this.#tails.delete(key);
    });
    const before = after === 'admitted' ? admitted : settled;
    return {
      ready: before.length === 0 ? undefined : Promise.all(before).then(done),
      admit,
      release: () => {
        admit();
        settle();
      },
    };
  }

  /** Keys with a write out (or waiting): 0 when the instance is idle. */
  get size(): number {
    return this.#tails.size;
  }
}

/**
 * The keys of the ids writes name when they are called. An id that does not parse yet claims
 * nothing: that write's own preparation then refuses it, or a `beforeSet` hook gives it an id (a new
 * row, which no earlier write can name).
 */
export function namedKeys(schema: CompiledSchema, ids: Iterable<unknown>): string[] {
  const keys: string[] = [];
  for (const id of ids) {
    if (id === undefined || id === null) continue;
    try {
      keys.push(idKey(normalizeId(schema, id)));
    } catch {
      // Not an error here: see above.
    }
  }
  return keys;
}

/** The primary key a row to set names, if it is an object that has one. */
export function rowId(schema: CompiledSchema, value: unknown): unknown {
  return typeof value === 'object' && value !== null
    ? (value as Record<string, unknown>)[schema.primaryKey.key]
    : undefined;
}
