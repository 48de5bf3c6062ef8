import type { CompiledSchema } from '../schema/types.js';
import { idKey, normalizeId } from './ids.js';

/** A write's place in the call order of its keys (see `KeyOrder`). */
export interface Turn {
  /** Undefined when the earlier writes of these keys are far enough now; else when they will be. */
  wait(): Promise<void> | undefined;
  /** Its batch holds it (write-behind): the next batched write of these keys may go. */
  admit(): void;
  /** It is done, or failed: every next write of these keys may go. Idempotent. */
  release(): void;
}

/** How far the earlier writes of a claim's keys must be before it goes. */
export type After = 'admitted' | 'settled';

const NO_TURN: Turn = { wait: () => undefined, admit: () => {}, release: () => {} };
type Stage = 0 | 1;
const ADMITTED: Stage = 0;
const SETTLED: Stage = 1;

/**
 * One claim. Per stage (admitted, settled): whether it reached it itself, how many earlier claims
 * of its keys have not reached it fully (themselves and all before them), and the later claims to
 * tell when it does. Told synchronously: a write whose predecessor was just batched joins the same
 * batch, with no promise turn in between.
 */
class Claim {
  readonly own: [boolean, boolean] = [false, false];
  readonly full: [boolean, boolean] = [false, false];
  readonly waiting: [number, number] = [0, 0];
  readonly next: [Claim[], Claim[]] = [[], []];
  readonly wake: [(() => void) | undefined, (() => void) | undefined] = [undefined, undefined];

  constructor(
    readonly keys: readonly string[],
    readonly after: Stage,
    readonly onSettled: (claim: Claim) => void,
  ) {}

  reach(stage: Stage): void {
    this.own[stage] = true;
    // A worklist, not recursion: a chain of thousands of writes of one key must not overflow the stack.
    const work: Claim[] = [this];
    for (let c = work.pop(); c; c = work.pop()) {
      if (c.full[stage] || !c.own[stage] || c.waiting[stage] > 0) continue;
      c.full[stage] = true;
      if (stage === SETTLED) c.onSettled(c);
      for (const n of c.next[stage]) {
        n.waiting[stage] -= 1;
        if (n.waiting[stage] === 0) n.wake[stage]?.();
        work.push(n);
      }
    }
  }
}

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
 * try { await turn.wait(); await write(); } finally { turn.release(); }
 */
export class KeyOrder {
  readonly #tails = new Map<string, Claim>();
  readonly #forget = (claim: Claim) => {
    for (const key of claim.keys) if (this.#tails.get(key) === claim) this.#tails.delete(key);
  };

  claim(keys: Iterable<string>, after: After): Turn {
    const unique = [...new Set(keys)];
    if (unique.length === 0) return NO_TURN;
    const claim = new Claim(unique, after === 'admitted' ? ADMITTED : SETTLED, this.#forget);
    const before = new Set<Claim>();
    for (const key of unique) {
      const tail = this.#tails.get(key);
      if (tail) before.add(tail);
      this.#tails.set(key, claim);
    }
    for (const b of before)
      for (const stage of [ADMITTED, SETTLED] as const)
        if (!b.full[stage]) {
          claim.waiting[stage] += 1;
          b.next[stage].push(claim);
        }
    return {
      wait: () => {
        const stage = claim.after;
        if (claim.waiting[stage] === 0) return undefined;
        return new Promise<void>((resolve) => {
          claim.wake[stage] = resolve;
        });
      },
      admit: () => claim.reach(ADMITTED),
      release: () => {
        claim.reach(ADMITTED);
        claim.reach(SETTLED);
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
