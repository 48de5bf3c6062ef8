import type { CompiledSchema } from '../schema/types.js';
import { idKey, normalizeId } from './ids.js';

/** A write's place in the call order of its keys (see `KeyOrder`). */
export interface Turn {
  /** Settles once every earlier write of these keys has let go; undefined when none was out. */
  readonly ready: Promise<void> | undefined;
  /** Lets the next write of these keys go; idempotent. */
  release(): void;
}

const NO_TURN: Turn = { ready: undefined, release: () => {} };

/**
 * Call order per key, within one instance: the writes of one key take effect in the order in which
 * they were called, whatever each spends before reaching a tier (a `beforeSet` hook, validation,
 * encryption; a `delete` has none of these and would otherwise pass a `set` called just before it).
 *
 * A write claims its keys when it is called (synchronously, so claims are in call order) and waits,
 * before it reaches the writer, for the earlier claims of those keys to let go. Write-behind lets go
 * once its batch holds it (batches leave in order and take increasing versions); write-through once
 * Postgres answered (two statements on two pool connections commit in any order). Writes of other
 * keys never wait: no head-of-line blocking across keys. Claims only ever wait for earlier ones, so
 * waits never form a cycle, whatever keys (or schemas, for a transaction) they span.
 *
 * @example
 * const turn = order.claim([key]);
 * try { if (turn.ready) await turn.ready; await write(); } finally { turn.release(); }
 */
export class KeyOrder {
  readonly #tails = new Map<string, Promise<void>>();

  claim(keys: Iterable<string>): Turn {
    const unique = [...new Set(keys)];
    if (unique.length === 0) return NO_TURN;
    let open!: () => void;
    const mine = new Promise<void>((resolve) => {
      open = resolve;
    });
    const before: Promise<void>[] = [];
    for (const key of unique) {
      const tail = this.#tails.get(key);
      if (tail) before.push(tail);
      this.#tails.set(key, mine);
    }
    let released = false;
    return {
      ready: before.length === 0 ? undefined : Promise.all(before).then(() => undefined),
      release: () => {
        if (released) return;
        released = true;
        open();
        for (const key of unique) if (this.#tails.get(key) === mine) this.#tails.delete(key);
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
