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
 * One claim, and the turn its write holds. Per stage (admitted, settled): whether it reached it
 * itself, how many earlier claims of its keys have not reached it fully (themselves and all before
 * them), and the later claims to tell when it does. Told synchronously: a write whose predecessor
 * was just batched joins the same batch, with no promise turn in between. Its own `Turn` (no
 * closures per claim: one write at a time makes one claim per call).
 */
class Claim implements Turn {
  readonly own: [boolean, boolean] = [false, false];
  readonly full: [boolean, boolean] = [false, false];
  readonly waiting: [number, number] = [0, 0];
  /** Made when a later claim first waits on this one (most claims are never waited on). */
  next: [Claim[], Claim[]] | undefined;
  wake: [(() => void) | undefined, (() => void) | undefined] | undefined;

  constructor(
    readonly keys: readonly string[],
    readonly after: Stage,
    readonly onSettled: (claim: Claim) => void,
  ) {}

  /** Waits on `earlier` (a claim of one of its keys) at each stage `earlier` has not fully reached. */
  follow(earlier: Claim): void {
    for (let stage: Stage = ADMITTED; stage <= SETTLED; stage++)
      if (!earlier.full[stage]) {
        this.waiting[stage] += 1;
        earlier.next ??= [[], []];
        earlier.next[stage].push(this);
      }
  }

  wait(): Promise<void> | undefined {
    const stage = this.after;
    if (this.waiting[stage] === 0) return undefined;
    this.wake ??= [undefined, undefined];
    const wake = this.wake;
    return new Promise<void>((resolve) => {
      wake[stage] = resolve;
    });
  }

  admit(): void {
    this.reach(ADMITTED);
  }

  release(): void {
    this.reach(ADMITTED);
    this.reach(SETTLED);
  }

  reach(stage: Stage): void {
    this.own[stage] = true;
    // Nothing before it out and nothing after it waiting (one write of a key at a time): no worklist.
    if (this.full[stage] || this.waiting[stage] > 0) return;
    if (!this.next) {
      this.full[stage] = true;
      if (stage === SETTLED) this.onSettled(this);
      return;
    }
    // A worklist, not recursion: a chain of thousands of writes of one key must not overflow the stack.
    const work: Claim[] = [this];
    for (let c = work.pop(); c; c = work.pop()) {
      if (c.full[stage] || !c.own[stage] || c.waiting[stage] > 0) continue;
      c.full[stage] = true;
      if (stage === SETTLED) c.onSettled(c);
      if (c.next)
        for (const n of c.next[stage]) {
          n.waiting[stage] -= 1;
          if (n.waiting[stage] === 0) n.wake?.[stage]?.();
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
    // One key (a set or delete of one row): no set to make it unique.
    const unique = Array.isArray(keys) && keys.length === 1 ? (keys as string[]) : [...new Set(keys)];
    if (unique.length === 0) return NO_TURN;
    const claim = new Claim(unique, after === 'admitted' ? ADMITTED : SETTLED, this.#forget);
    if (unique.length === 1) {
      const tail = this.#tails.get(unique[0]!);
      if (tail) claim.follow(tail);
      this.#tails.set(unique[0]!, claim);
      return claim;
    }
    const before = new Set<Claim>();
    for (const key of unique) {
      const tail = this.#tails.get(key);
      if (tail) before.add(tail);
      this.#tails.set(key, claim);
    }
    for (const b of before) claim.follow(b);
    return claim;
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
