/**
 * The oracle of the column-merge model test: per key, the row the acknowledged writes leave when
 * applied one by one in their serial order, column by column (a set overlays the columns it sent,
 * over a new row of nulls after a delete or none; a delete removes the row).
 *
 * The serial order is the acknowledgement order of writes that did not overlap (each was awaited
 * before the next began, so its version, from Postgres or from the app's Redis counter, is the
 * greater: docs/semantics.md "Versions"). A write that overlapped others (its L3 statement held
 * while they ran) may take effect anywhere between its call and its acknowledgement (either order
 * is one its callers could see: linearizability, no more); a write that failed may also not have
 * taken effect at all. Every key of one write (a transaction) takes effect at one point.
 */

export type Value = string | number | null;
export type Row = Record<string, Value>;
/** A write of one key: the columns a set sent, or `null` for a delete. */
export interface KeyWrite {
  key: string;
  cols: Row | null;
}
/** One write as a caller made it: one key, or several (a transaction). */
export interface Event {
  label: string;
  writes: readonly KeyWrite[];
}
/** A write that overlapped others: it may take effect after any `after`..`before` fixed writes. */
interface Floating {
  ev: Event;
  after: number;
  before: number;
  optional: boolean;
}

export class ColumnModel {
  readonly #fixed: Event[] = [];
  readonly #floating: Floating[] = [];

  constructor(readonly columns: readonly string[]) {}

  /** A write acknowledged with no other write of the run in flight. */
  acknowledged(ev: Event): void {
    this.#fixed.push(ev);
  }

  /** Where the fixed sequence is now: pass it to `overlapped` when the overlapping write began. */
  mark(): number {
    return this.#fixed.length;
  }

  /** A write that began at `startedAt` (a `mark()`) and settled now; `failed`: it may not have happened. */
  overlapped(ev: Event, startedAt: number, failed = false): void {
    this.#floating.push({ ev, after: startedAt, before: this.#fixed.length, optional: failed });
  }

  /** Every row (JSON, `null`: absent) `key` may hold after every write took effect. */
  allowed(key: string): Set<string> {
    const touches = (ev: Event) => ev.writes.some((w) => w.key === key);
    const floats = this.#floating.filter((f) => touches(f.ev));
    const results = new Set<string>();
    const walk = (i: number, left: readonly Floating[], state: Row | null) => {
      // Floats that must take effect before fixed write i (their acknowledgement came first).
      const due = left.filter((f) => f.before <= i);
      if (i === this.#fixed.length && left.length === 0) {
        results.add(this.canonical(state));
        return;
      }
      for (const f of left) {
        if (f.after > i) continue;
        const rest = left.filter((g) => g !== f);
        walk(i, rest, this.#apply(key, f.ev, state));
        if (f.optional) walk(i, rest, state);
      }
      if (due.length === 0 && i < this.#fixed.length)
        walk(i + 1, left, this.#apply(key, this.#fixed[i]!, state));
    };
    walk(0, floats, null);
    return results;
  }

  /** A row as `allowed` names it: its columns in the model's order, `null` when absent. */
  canonical(row: Row | null): string {
    return row === null
      ? 'null'
      : JSON.stringify(Object.fromEntries(this.columns.map((c) => [c, row[c] ?? null])));
  }

  /** What the run did to `key`, for a failure's message. */
  history(key: string): string[] {
    const line = (ev: Event) => `${ev.label}: ${JSON.stringify(ev.writes.filter((w) => w.key === key))}`;
    return [
      ...this.#fixed.map((ev, i) => `#${i} ${line(ev)}`),
      ...this.#floating.map((f) => `~[${f.after}..${f.before}]${f.optional ? '?' : ''} ${line(f.ev)}`),
    ].filter((s) => s.includes(`"${key}"`));
  }

  #apply(key: string, ev: Event, state: Row | null): Row | null {
    let row = state;
    for (const w of ev.writes) {
      if (w.key !== key) continue;
      if (w.cols === null) row = null;
      else row = { ...(row ?? Object.fromEntries(this.columns.map((c) => [c, null]))), ...w.cols };
    }
    return row;
  }
}
