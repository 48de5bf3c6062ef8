import type { WriteMode } from '@strata/core';
import type { InstanceName, RowView, Tenant } from './deployment-stack.js';

/**
 * The model of the deployment test, per tenant and key: the history of acknowledged writes. An
 * entry is usually one write (`levels` = [n], or [null] for a delete); writes that overlapped in
 * time (the late commit) make ONE entry with both levels: either order is acceptable, as long as
 * every tier ends up agreeing with Postgres.
 *
 * Rules (after CoherenceModel in model-coherence.ts, README "L1 coherence across instances"):
 * - an instance reads its own writes: after it writes (or invalidates) a key, its floor for that
 *   key is the newest entry; reads never return an entry below the reader's floor;
 * - reads never go back in time: a value read raises that instance's floor to it;
 * - another instance may return an older entry only while the entries that replaced it have been
 *   visible for less than `boundMs` when the read began (bus delivery);
 * - write-behind: Postgres holds the writes up to the last flush of the tenant's app (`inL3`).
 *   `invalidate` drops the only cached copy of an unflushed write, so until the next flush every
 *   instance may read what Postgres holds: the unflushed entries become invisible (visibleAt = ∞),
 *   every floor drops to `inL3`; the flush makes them visible again from its end on.
 * - every read returns rows of the reader's tenant, with an `n` that tenant wrote for that id.
 */
export interface Entry {
  /** The acceptable values of `n` (null: absent). Two for overlapping writes. */
  readonly levels: readonly (number | null)[];
  readonly ackAt: number;
  /** From when reads must no longer return what this entry replaced (write-behind invalidate: ∞ until the flush). */
  visibleAt: number;
  /** The notes Postgres may hold after this entry (a write without a note keeps the previous one). */
  readonly notes: ReadonlySet<string | null>;
  /** The createdAt (epoch ms) Postgres may hold: the creating write's ('any' when it was not seen). */
  readonly createdAts: ReadonlySet<number> | 'any';
  /** What made it, for messages. */
  readonly by: string;
}

/** One acknowledged write as the model needs it. */
export interface WriteFact {
  /** Its `n`, or null for a delete. */
  readonly level: number | null;
  /** The note it sent; `undefined` when it left the column out. */
  readonly note?: string | undefined;
  /** The createdAt (epoch ms) the write resolved with; `undefined` when not seen (a transaction). */
  readonly createdAt?: number | undefined;
}

export class ModelViolation extends Error {
  override name = 'ModelViolation';
}

export class TenantModel {
  readonly history = new Map<string, Entry[]>();
  /** Index of the newest entry known to be in Postgres, per key. */
  readonly inL3 = new Map<string, number>();
  readonly #floor = new Map<string, number>();
  /** Every n this tenant wrote, per key: a read of any other n is another tenant's (or invented). */
  readonly written = new Map<string, Set<number>>();

  constructor(
    readonly tenant: Tenant,
    readonly keys: readonly string[],
    readonly instances: readonly InstanceName[],
  ) {
    for (const key of keys) {
      this.history.set(key, [
        {
          levels: [null],
          ackAt: Number.NEGATIVE_INFINITY,
          visibleAt: Number.NEGATIVE_INFINITY,
          notes: new Set([null]),
          createdAts: new Set(),
          by: 'initial',
        },
      ]);
      this.inL3.set(key, 0);
      this.written.set(key, new Set());
    }
  }

  entries(key: string): Entry[] {
    const h = this.history.get(key);
    if (!h) throw new Error(`tenant ${this.tenant}: no key ${key}`);
    return h;
  }

  latest(key: string): Entry {
    const h = this.entries(key);
    return h[h.length - 1]!;
  }

  /**
   * An acknowledged write of `key` by `inst`: one fact, or two for overlapping writes (either order).
   * `inL3`: Postgres already holds it (write-through, a committed transaction); write-behind writes
   * reach it on the flush.
   */
  wrote(
    inst: InstanceName,
    key: string,
    facts: readonly WriteFact[],
    ackAt: number,
    inL3: boolean,
    by: string,
  ): void {
    const h = this.entries(key);
    const previous = h[h.length - 1]!;
    // A transaction on a write-behind key whose earlier writes are still queued is ordered after
    // them but replaces them (README, write-behind): its own insert may create the row, so its
    // createdAt may be the one Postgres keeps.
    const replacesQueued = inL3 && (this.inL3.get(key) ?? -1) < h.length - 1;
    const wasAbsent = previous.levels.every((l) => l === null);
    const wasPresent = previous.levels.every((l) => l !== null);
    const notes = new Set<string | null>();
    let createdAts: Set<number> | 'any' = new Set();
    const addCreated = (c: ReadonlySet<number> | 'any') => {
      if (createdAts === 'any' || c === 'any') createdAts = 'any';
      else for (const t of c) createdAts.add(t);
    };
    for (const fact of facts) {
      if (fact.level === null) continue;
      this.written.get(key)!.add(fact.level);
      // A write that leaves `note` out keeps the row's note; on a new row it is null.
      if (fact.note !== undefined) notes.add(fact.note);
      else {
        if (!wasPresent) notes.add(null);
        if (!wasAbsent) for (const n of previous.notes) notes.add(n);
        // A write-through set over the app's queued writes (`mixed`) merges over Postgres' row, not
        // theirs: it keeps the note Postgres had (write-behind.md, "One app writes a table").
        if (replacesQueued) {
          notes.add(null);
          for (const e of h.slice(this.inL3.get(key) ?? 0)) for (const n of e.notes) notes.add(n);
        }
      }
      // autoNowAdd: set by the write that creates the row, kept by every later one.
      if (!wasPresent || replacesQueued)
        addCreated(fact.createdAt === undefined ? 'any' : new Set([fact.createdAt]));
      if (!wasAbsent) addCreated(previous.createdAts);
    }
    if (notes.size === 0) notes.add(null);
    h.push({ levels: facts.map((f) => f.level), ackAt, visibleAt: ackAt, notes, createdAts, by });
    if (inL3) this.inL3.set(key, h.length - 1);
    this.raise(inst, key, h.length - 1);
  }

  /**
   * A write of `key` by `inst` that failed with L2_UNAVAILABLE (refused: "nothing was written", or
   * timed out: "the write's outcome is unknown", then flushed if it landed), so not acknowledged: it
   * may or may not have landed before the call returned. One entry accepting the
   * previous entry's values or this one (like the late commit's overlap), not in Postgres yet;
   * the writer's floor is not raised (it was told nothing was written). What came after it must win.
   */
  maybeWrote(key: string, level: number | null, note: string | null, ackAt: number, by: string): void {
    const h = this.entries(key);
    const previous = h[h.length - 1]!;
    if (level !== null) this.written.get(key)!.add(level);
    const notes = new Set([...previous.notes, note]);
    h.push({ levels: [...previous.levels, level], ackAt, visibleAt: ackAt, notes, createdAts: 'any', by });
  }

  /** `inst` dropped its cached copy: it reads the newest entry from now on. */
  refreshed(inst: InstanceName, key: string): void {
    this.raise(inst, key, this.entries(key).length - 1);
  }

  /**
   * Write-behind `invalidate`: the unflushed entries of `key` are gone from every cache until the
   * flush; every instance may read what Postgres holds.
   */
  droppedUnflushed(key: string): void {
    const h = this.entries(key);
    const l3 = this.inL3.get(key)!;
    for (let i = l3 + 1; i < h.length; i++) h[i]!.visibleAt = Number.POSITIVE_INFINITY;
    for (const inst of this.instances) {
      const k = `${inst}|${key}`;
      this.#floor.set(k, Math.min(this.#floor.get(k) ?? 0, l3));
    }
  }

  /** The tenant's app flushed: Postgres holds every entry; the invisible ones are visible from `at`. */
  flushed(at: number): void {
    for (const key of this.keys) {
      const h = this.entries(key);
      for (const e of h) if (e.visibleAt === Number.POSITIVE_INFINITY) e.visibleAt = at;
      this.inL3.set(key, h.length - 1);
    }
  }

  /** Checks that a row read by an instance of this tenant is this tenant's, for `key`. */
  checkOwn(reader: string, key: string, row: RowView | null): void {
    if (row === null) return;
    if (row.tenant !== this.tenant || row.id !== key || !this.written.get(key)!.has(row.n)) {
      const cross = row.tenant !== this.tenant ? 'CROSS-TENANT: ' : '';
      throw new ModelViolation(
        `${cross}${reader} (tenant ${this.tenant}) read ${key} = ${JSON.stringify(row)}: not a row tenant ` +
          `${this.tenant} wrote for ${key} (its n values: ${JSON.stringify([...this.written.get(key)!])})`,
      );
    }
  }

  /**
   * Checks a read of `key` on `inst` that began at `startedAt` and returned `level` (null: absent);
   * throws a ModelViolation describing what broke. `raiseFloor`: a row read (not a search list).
   * Resolves whether it returned an older entry than the newest (within the bound).
   */
  read(
    inst: InstanceName,
    key: string,
    level: number | null,
    startedAt: number,
    boundMs: number,
    what: string,
    raiseFloor = true,
  ): 'fresh' | 'stale' {
    const h = this.entries(key);
    const floor = this.#floor.get(`${inst}|${key}`) ?? 0;
    let index = -1;
    for (let i = h.length - 1; i >= floor; i--) {
      if (h[i]!.levels.includes(level)) {
        index = i;
        break;
      }
    }
    const show = (from: number) =>
      JSON.stringify(h.slice(from).map((e) => (e.levels.length === 1 ? e.levels[0] : e.levels)));
    if (index < 0) {
      throw new ModelViolation(
        `${what} on ${inst} read ${key} = ${String(level)}, but may only return one of ${show(floor)} ` +
          `(history ${show(0)}; its own writes / what it read last put the floor there)`,
      );
    }
    let replacedAt = Number.POSITIVE_INFINITY;
    for (let i = index + 1; i < h.length; i++) replacedAt = Math.min(replacedAt, h[i]!.visibleAt);
    if (replacedAt < startedAt - boundMs) {
      throw new ModelViolation(
        `${what} on ${inst} read ${key} = ${String(level)}, replaced by ${show(index + 1)} ` +
          `${(startedAt - replacedAt).toFixed(0)} ms before the read began (bound ${boundMs} ms; history ${show(0)})`,
      );
    }
    if (raiseFloor) this.raise(inst, key, index);
    return index < h.length - 1 ? 'stale' : 'fresh';
  }

  /**
   * A write-behind search list (it reads Postgres): each key must show an entry Postgres held at the
   * last flush or later.
   */
  readFromL3(inst: InstanceName, key: string, level: number | null, what: string): void {
    const h = this.entries(key);
    const from = this.inL3.get(key)!;
    for (let i = h.length - 1; i >= from; i--) if (h[i]!.levels.includes(level)) return;
    const show = (s: number) =>
      JSON.stringify(h.slice(s).map((e) => (e.levels.length === 1 ? e.levels[0] : e.levels)));
    throw new ModelViolation(
      `${what} on ${inst} listed ${key} = ${String(level)}, but Postgres has held one of ${show(from)} since ` +
        `the last flush (history ${show(0)})`,
    );
  }

  raise(inst: InstanceName, key: string, index: number): void {
    const k = `${inst}|${key}`;
    this.#floor.set(k, Math.max(this.#floor.get(k) ?? 0, index));
  }
}

/** Both tenants' models plus the counters the ledger gets. */
export class DeploymentModel {
  readonly tenants: Record<Tenant, TenantModel>;
  nextLevel = 1;
  operations = 0;
  writesAcknowledged = 0;
  staleReads = 0;
  /** Faults injected in this run (late commits, skewed writes, Redis restarts and data losses). */
  faultsInjected = 0;
  restarts = 0;
  dataLosses = 0;
  /** A2's Redis link cuts in this run (`redis-link`). */
  linkCuts = 0;

  constructor(
    readonly keys: Readonly<Record<Tenant, readonly string[]>>,
    readonly boundMs: number,
    /** Each instance's schema write mode (`mixed`: A1 write-behind beside A2 write-through). */
    readonly modes: Readonly<Record<InstanceName, WriteMode>>,
  ) {
    this.tenants = {
      a: new TenantModel('a', keys.a, ['A1', 'A2']),
      b: new TenantModel('b', keys.b, ['B1']),
    };
  }

  /** Whether `inst` queues its sets and deletes (write-behind: Postgres has them at the flush). */
  queues(inst: InstanceName): boolean {
    return this.modes[inst] === 'write-behind';
  }

  /** Whether any instance of `tenant`'s app queues its writes. */
  queuesAny(tenant: Tenant): boolean {
    return this.tenants[tenant].instances.some((i) => this.queues(i));
  }
}
