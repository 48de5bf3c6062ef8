import type { Schema, Strata } from '@strata/core';
import type { PgTable } from 'drizzle-orm/pg-core';
import fc from 'fast-check';

/**
 * The model of the race tests: per key, the history of acknowledged writes (a level, or `null` for
 * absent), and per instance and key the oldest history entry that instance may still return (its
 * "floor"). The rules, from README "L1 coherence across instances":
 *
 * - an instance reads its own writes: after it writes, deletes or invalidates a key, its floor is
 *   the newest entry; after `invalidateAll`, for every key;
 * - reads never go back in time: a value read raises that instance's floor to it;
 * - another instance's write may be missed only while its bus message is on the way: a read may
 *   return an entry older than the newest only if the write that replaced it was acknowledged less
 *   than `boundMs` before the read began;
 * - `awaitBus` waits (at most `boundMs`) until every instance has applied every message the others
 *   published; after it, every floor is the newest entry. A message not applied within the bound fails.
 */
export interface Version {
  level: number | null;
  ackAt: number;
}

export class CoherenceModel {
  readonly history = new Map<string, Version[]>();
  readonly #floor = new Map<string, number>();
  readonly published: number[];
  nextLevel = 1;
  writesAcknowledged = 0;
  operations = 0;
  staleReads = 0;

  constructor(
    readonly instances: number,
    readonly keys: readonly string[],
    readonly boundMs: number,
  ) {
    this.published = Array.from({ length: instances }, () => 0);
    for (const key of keys) this.history.set(key, [{ level: null, ackAt: Number.NEGATIVE_INFINITY }]);
  }

  latest(key: string): Version {
    const h = this.history.get(key)!;
    return h[h.length - 1]!;
  }

  /** Records an acknowledged write (or delete) by `inst`. */
  wrote(inst: number, key: string, level: number | null, ackAt: number): void {
    const h = this.history.get(key)!;
    h.push({ level, ackAt });
    this.writesAcknowledged += 1;
    this.raise(inst, key, h.length - 1);
  }

  /** `inst` dropped its cached copy (or wrote): it must read the newest entry from now on. */
  refreshed(inst: number, key: string): void {
    this.raise(inst, key, this.history.get(key)!.length - 1);
  }

  /** Every message is applied everywhere: every instance reads the newest entry of every key. */
  synced(): void {
    for (let i = 0; i < this.instances; i++) for (const key of this.keys) this.refreshed(i, key);
  }

  /**
   * Checks a read of `key` on `inst` that began at `startedAt` and returned `level` (null: absent);
   * throws a description of the violation.
   */
  read(inst: number, key: string, level: number | null, startedAt: number): void {
    this.operations += 1;
    const h = this.history.get(key)!;
    const floor = this.#floor.get(`${inst}|${key}`) ?? 0;
    let index = -1;
    for (let i = h.length - 1; i >= floor; i--) {
      if (h[i]!.level === level) {
        index = i;
        break;
      }
    }
    const newest = h.length - 1;
    if (index < 0) {
      throw new Error(
        `instance ${inst} read ${key} = ${String(level)}, but may only return one of ` +
          `${JSON.stringify(h.slice(floor).map((v) => v.level))} (history ${JSON.stringify(h.map((v) => v.level))})`,
      );
    }
    if (index < newest) {
      const replacedAt = h[index + 1]!.ackAt;
      if (replacedAt < startedAt - this.boundMs) {
        throw new Error(
          `instance ${inst} read ${key} = ${String(level)}, replaced ${(startedAt - replacedAt).toFixed(1)} ms ` +
            `before the read began (bound ${this.boundMs} ms)`,
        );
      }
      this.staleReads += 1;
    }
    this.raise(inst, key, index);
  }

  raise(inst: number, key: string, index: number): void {
    const k = `${inst}|${key}`;
    this.#floor.set(k, Math.max(this.#floor.get(k) ?? 0, index));
  }
}

/** What the commands act on. */
export interface CoherenceReal {
  instances: readonly Strata[];
  schema: Schema<PgTable, never>;
  /** `invalidationsApplied` of each instance when this run began. */
  appliedAtStart: readonly number[];
  row(key: string, level: number): Record<string, unknown>;
}

type Cmd = fc.AsyncCommand<CoherenceModel, CoherenceReal>;
const now = () => performance.now();

class SetCmd implements Cmd {
  constructor(
    readonly inst: number,
    readonly key: number,
  ) {}
  check = () => true;
  async run(m: CoherenceModel, r: CoherenceReal) {
    const key = m.keys[this.key]!;
    const level = m.nextLevel++;
    await r.instances[this.inst]!.set(r.schema, r.row(key, level) as never);
    m.wrote(this.inst, key, level, now());
    m.published[this.inst]! += 1;
    m.operations += 1;
  }
  toString = () => `set(i${this.inst}, k${this.key})`;
}

class DeleteCmd implements Cmd {
  constructor(
    readonly inst: number,
    readonly key: number,
  ) {}
  check = () => true;
  async run(m: CoherenceModel, r: CoherenceReal) {
    const key = m.keys[this.key]!;
    await r.instances[this.inst]!.delete(r.schema, key);
    m.wrote(this.inst, key, null, now());
    m.published[this.inst]! += 1;
    m.operations += 1;
  }
  toString = () => `delete(i${this.inst}, k${this.key})`;
}

class SetManyCmd implements Cmd {
  constructor(
    readonly inst: number,
    readonly keys: readonly number[],
  ) {}
  check = () => true;
  async run(m: CoherenceModel, r: CoherenceReal) {
    const levels = this.keys.map(() => m.nextLevel++);
    const rows = this.keys.map((k, i) => r.row(m.keys[k]!, levels[i]!));
    await r.instances[this.inst]!.setMany(r.schema, rows as never);
    const at = now();
    this.keys.forEach((k, i) => {
      m.wrote(this.inst, m.keys[k]!, levels[i]!, at);
    });
    m.published[this.inst]! += 1;
    m.operations += 1;
  }
  toString = () => `setMany(i${this.inst}, [${this.keys.map((k) => `k${k}`).join(',')}])`;
}

class TxCmd implements Cmd {
  constructor(
    readonly inst: number,
    readonly setKey: number,
    readonly deleteKey: number,
  ) {}
  check = () => this.setKey !== this.deleteKey;
  async run(m: CoherenceModel, r: CoherenceReal) {
    const setKey = m.keys[this.setKey]!;
    const deleteKey = m.keys[this.deleteKey]!;
    const level = m.nextLevel++;
    await r.instances[this.inst]!.tx()
      .set(r.schema, r.row(setKey, level) as never)
      .delete(r.schema, deleteKey)
      .commit();
    const at = now();
    m.wrote(this.inst, setKey, level, at);
    m.wrote(this.inst, deleteKey, null, at);
    // Two messages: a transaction tells its sets and its deletes apart (regression-tx-delete-told).
    m.published[this.inst]! += 2;
    m.operations += 1;
  }
  toString = () => `tx(i${this.inst}, set k${this.setKey}, delete k${this.deleteKey})`;
}

class InvalidateCmd implements Cmd {
  constructor(
    readonly inst: number,
    readonly key: number,
  ) {}
  check = () => true;
  async run(m: CoherenceModel, r: CoherenceReal) {
    const key = m.keys[this.key]!;
    await r.instances[this.inst]!.invalidate(r.schema, key);
    m.refreshed(this.inst, key);
    m.published[this.inst]! += 1;
    m.operations += 1;
  }
  toString = () => `invalidate(i${this.inst}, k${this.key})`;
}

class InvalidateAllCmd implements Cmd {
  constructor(readonly inst: number) {}
  check = () => true;
  async run(m: CoherenceModel, r: CoherenceReal) {
    await r.instances[this.inst]!.invalidateAll(r.schema);
    for (const key of m.keys) m.refreshed(this.inst, key);
    m.published[this.inst]! += 1;
    m.operations += 1;
  }
  toString = () => `invalidateAll(i${this.inst})`;
}

const levelOf = (row: unknown): number | null =>
  row === null ? null : ((row as { level: number }).level ?? Number.NaN);

class GetCmd implements Cmd {
  constructor(
    readonly inst: number,
    readonly key: number,
  ) {}
  check = () => true;
  async run(m: CoherenceModel, r: CoherenceReal) {
    const key = m.keys[this.key]!;
    const started = now();
    const row = await r.instances[this.inst]!.find(r.schema, key);
    m.read(this.inst, key, levelOf(row), started);
  }
  toString = () => `get(i${this.inst}, k${this.key})`;
}

class GetManyCmd implements Cmd {
  constructor(
    readonly inst: number,
    readonly keys: readonly number[],
  ) {}
  check = () => true;
  async run(m: CoherenceModel, r: CoherenceReal) {
    const keys = this.keys.map((k) => m.keys[k]!);
    const started = now();
    const rows = await r.instances[this.inst]!.getMany(r.schema, keys);
    rows.forEach((row, i) => {
      m.read(this.inst, keys[i]!, levelOf(row), started);
    });
  }
  toString = () => `getMany(i${this.inst}, [${this.keys.map((k) => `k${k}`).join(',')}])`;
}

/**
 * A write on one instance with reads of the same key on it and on another, all at once: the reads
 * may return the old or the new value; after they settle, the writer must read its write (a read
 * that raced the write must not have put the old value into its cache: the write fence).
 */
class RaceCmd implements Cmd {
  constructor(
    readonly writer: number,
    readonly reader: number,
    readonly key: number,
    readonly remove: boolean,
  ) {}
  check = () => true;
  async run(m: CoherenceModel, r: CoherenceReal) {
    const key = m.keys[this.key]!;
    const level = this.remove ? null : m.nextLevel++;
    const w = r.instances[this.writer]!;
    const started = now();
    const write = level === null ? w.delete(r.schema, key) : w.set(r.schema, r.row(key, level) as never);
    const reads = [
      w.find(r.schema, key),
      r.instances[this.reader]!.find(r.schema, key),
      w.find(r.schema, key),
    ];
    const [, ...rows] = await Promise.all([write, ...reads]);
    // Reads that overlapped the write see its value or the one before: checked with the write not
    // yet in the history, then the write is appended and allowed too.
    m.history.get(key)!.push({ level, ackAt: now() });
    m.writesAcknowledged += 1;
    rows.forEach((row, i) => {
      m.read(i === 1 ? this.reader : this.writer, key, levelOf(row), started);
    });
    m.refreshed(this.writer, key);
    m.published[this.writer]! += 1;
    m.operations += 1;
    // The writer's own next read: its write, never the value a racing read loaded.
    const after = await w.find(r.schema, key);
    m.read(this.writer, key, levelOf(after), now());
  }
  toString = () =>
    `race(${this.remove ? 'delete' : 'set'} on i${this.writer}, reads on i${this.writer} + i${this.reader}, k${this.key})`;
}

/** Waits until every instance applied every message the others published (at most the bound). */
export class AwaitBusCmd implements Cmd {
  check = () => true;
  async run(m: CoherenceModel, r: CoherenceReal) {
    await awaitBus(m, r);
  }
  toString = () => 'awaitBus()';
}

export async function awaitBus(m: CoherenceModel, r: CoherenceReal): Promise<void> {
  const total = m.published.reduce((a, b) => a + b, 0);
  const deadline = now() + m.boundMs;
  for (;;) {
    const behind = r.instances.findIndex(
      (s, i) => s.stats().invalidationsApplied < r.appliedAtStart[i]! + total - m.published[i]!,
    );
    if (behind < 0) break;
    if (now() > deadline) {
      const s = r.instances[behind]!.stats();
      throw new Error(
        `instance ${behind} applied ${s.invalidationsApplied - r.appliedAtStart[behind]!} of ` +
          `${total - m.published[behind]!} messages within ${m.boundMs} ms`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  m.synced();
}

/**
 * The command arbitraries for `instances` instances and `keys` keys. `crossInstanceRaces`: a race's
 * second read runs on another instance (off: on the writer), which hits the known L2-fill bug (see
 * races-fill.test.ts).
 */
export function coherenceCommands(
  instances: number,
  keys: number,
  { crossInstanceRaces = false } = {},
): fc.Arbitrary<Cmd>[] {
  const inst = fc.nat({ max: instances - 1 });
  const other = (w: number, r: number) => (crossInstanceRaces ? r : w);
  const key = fc.nat({ max: keys - 1 });
  const keySet = fc.uniqueArray(key, { minLength: 1, maxLength: keys });
  return [
    fc.tuple(inst, key).map(([i, k]) => new SetCmd(i, k)),
    fc.tuple(inst, key).map(([i, k]) => new SetCmd(i, k)),
    fc.tuple(inst, key).map(([i, k]) => new DeleteCmd(i, k)),
    fc.tuple(inst, keySet).map(([i, ks]) => new SetManyCmd(i, ks)),
    fc.tuple(inst, key, key).map(([i, a, b]) => new TxCmd(i, a, b)),
    fc.tuple(inst, key).map(([i, k]) => new InvalidateCmd(i, k)),
    inst.map((i) => new InvalidateAllCmd(i)),
    fc.tuple(inst, key).map(([i, k]) => new GetCmd(i, k)),
    fc.tuple(inst, key).map(([i, k]) => new GetCmd(i, k)),
    fc.tuple(inst, keySet).map(([i, ks]) => new GetManyCmd(i, ks)),
    fc.tuple(inst, inst, key, fc.boolean()).map(([w, rd, k, del]) => new RaceCmd(w, other(w, rd), k, del)),
    fc.tuple(inst, inst, key).map(([w, rd, k]) => new RaceCmd(w, other(w, rd), k, false)),
    fc.constant(new AwaitBusCmd()),
  ];
}
