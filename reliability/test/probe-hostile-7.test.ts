import { createRedisPubSubBus, createRedisStreamQueue } from '@strata/adapter-node/redis-tcp';
import { defineSchema, type L3Tier, type Strata, type WriteMode } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scratchApp } from '../support/scratch-app.js';

// Hostile round 7 (helper "breakit", third round): write modes mixed inside one app with
// invalidations, tags and partial rows; a flush whose COMMIT reply is lost and whose batch is then
// redelivered beside newer writes of its keys; delete-then-set across modes and instances. A probe
// that found a defect is `it.fails`, with the loss in its comment; the others pass and stay because
// no other test walks them.

/** `target` with some of its methods replaced (the rest bound to it). */
function wrapL3(target: L3Tier, over: Partial<L3Tier>): L3Tier {
  return new Proxy(target, {
    get(t, prop) {
      if (prop in over) return over[prop as keyof L3Tier];
      const value = Reflect.get(t, prop, t) as unknown;
      return typeof value === 'function' ? value.bind(t) : value;
    },
  });
}

/** An L3 whose next `write` commits and then loses its reply (a connection cut after COMMIT). */
function lossyL3(base: L3Tier) {
  let loseNext = false;
  const l3 = wrapL3(base, {
    write: async (ops) => {
      const outcome = await base.write(ops);
      if (loseNext) {
        loseNext = false;
        throw new Error('Connection terminated unexpectedly');
      }
      return outcome;
    },
  });
  return { l3, loseReplies: (on: boolean) => (loseNext = on) };
}

describe('one app, every write mode at once, with invalidations, tags, partial rows and lost flush replies (model)', () => {
  // Instances of ONE app (one keyPrefix, one stream, one bus channel) over one table: two
  // write-behind (w1, w2: w1's flush replies can be lost after COMMIT), one write-through (t) and
  // one write-through-l1-async (a). Any sequence of whole and partial sets, deletes, transactions,
  // invalidate / invalidateAll / invalidateTags and flushes, each acknowledged before the next.
  // Rules (docs/semantics.md, "What each operation guarantees"; docs/write-behind.md): each write
  // is read by every instance once the bus delivered (a pending write-behind row survives every
  // invalidation); after a final flush Postgres holds each key's last acknowledged write (partial
  // sets keep the columns they left out) and every tier of every instance, and a new one, agrees.
  // Partial sets by write-through instances are made only for keys with nothing queued (the
  // documented limit: "only their sets that leave columns out do not carry a queued write's other
  // columns").
  const scratch = scratchApp('hostile7_model');
  const { name, pgName, admin, db, redisUrl } = scratch;
  const table = pgSchema(pgName).table('items', {
    id: text('id').primaryKey(),
    n: integer('n').notNull(),
    note: text('note'),
    league: text('league').notNull().default('x'),
  });
  const tags = (row: { league: string }) => [`league:${row.league}`];
  const schemaFor = (writeMode: WriteMode) => defineSchema({ name: 'items', table, writeMode, tags });
  scratch.migrate(table);
  const RUNS = Number(process.env.HOSTILE7_MODEL_RUNS ?? 10);
  const IDS = 3;

  type Inst = 'w1' | 'w2' | 't' | 'a';
  const MODE: Record<Inst, WriteMode> = {
    w1: 'write-behind',
    w2: 'write-behind',
    t: 'write-through',
    a: 'write-through-l1-async',
  };
  type Row = { n: number; note: string | null; league: string };
  interface Model {
    rows: (Row | null)[];
    /** Keys with a write-behind write acknowledged since the last complete flush. */
    pending: Set<number>;
  }
  interface Real {
    run: number;
    inst: Record<Inst, Strata>;
    lose: (on: boolean) => void;
    fresh: (i: Inst) => Strata;
    key: (id: number) => string;
  }
  let seq = 0;
  const schemas = Object.fromEntries(
    (Object.keys(MODE) as Inst[]).map((i) => [i, schemaFor(MODE[i])]),
  ) as Record<Inst, ReturnType<typeof schemaFor>>;

  const view = (row: { n: number; note: string | null; league: string } | null | undefined) =>
    row ? { n: row.n, note: row.note, league: row.league } : null;

  /** Resolves once `x` applied every bus message published before the call. */
  async function caughtUp(r: Real, x: Inst) {
    const via: Inst = x === 't' ? 'a' : 't';
    const heard = r.inst[x].stats().invalidationsApplied;
    await r.inst[via].invalidate(schemas[via], `sentinel-${r.run}-${++seq}`);
    await expect.poll(() => r.inst[x].stats().invalidationsApplied, { timeout: 3_000 }).toBeGreaterThan(heard);
  }

  async function readsOwn(m: Model, r: Real, i: Inst, id: number, what: string) {
    expect(view(await r.inst[i].find(schemas[i], r.key(id))), `${what}: ${i} reads its own write`).toEqual(
      m.rows[id],
    );
  }

  class SetCmd implements fc.AsyncCommand<Model, Real> {
    constructor(
      readonly i: Inst,
      readonly id: number,
      readonly partial: boolean,
      readonly league: string,
    ) {}
    check = () => true;
    async run(m: Model, r: Real) {
      const n = ++seq;
      const behind = MODE[this.i] === 'write-behind';
      const partial = this.partial && (behind || !m.pending.has(this.id));
      const key = r.key(this.id);
      if (partial) {
        await r.inst[this.i].set(schemas[this.i], { id: key, n } as never);
        const before = m.rows[this.id];
        m.rows[this.id] = { n, note: before?.note ?? null, league: before?.league ?? 'x' };
      } else {
        await r.inst[this.i].set(schemas[this.i], { id: key, n, note: `note-${n}`, league: this.league });
        m.rows[this.id] = { n, note: `note-${n}`, league: this.league };
      }
      if (behind) m.pending.add(this.id);
      await readsOwn(m, r, this.i, this.id, `${this}`);
    }
    toString = () => `set${this.partial ? 'Partial' : ''}(${this.i}, k${this.id}, ${this.league})`;
  }

  class DeleteCmd implements fc.AsyncCommand<Model, Real> {
    constructor(
      readonly i: Inst,
      readonly id: number,
    ) {}
    check = () => true;
    async run(m: Model, r: Real) {
      await r.inst[this.i].delete(schemas[this.i], r.key(this.id));
      m.rows[this.id] = null;
      if (MODE[this.i] === 'write-behind') m.pending.add(this.id);
      await readsOwn(m, r, this.i, this.id, `${this}`);
    }
    toString = () => `delete(${this.i}, k${this.id})`;
  }

  class TxCmd implements fc.AsyncCommand<Model, Real> {
    constructor(
      readonly i: Inst,
      readonly set: number,
      readonly del: number,
    ) {}
    check = () => this.set !== this.del;
    async run(m: Model, r: Real) {
      const n = ++seq;
      const s = schemas[this.i];
      await r.inst[this.i]
        .tx()
        .set(s, { id: r.key(this.set), n, note: `tx-${n}`, league: 'y' })
        .delete(s, r.key(this.del))
        .commit();
      m.rows[this.set] = { n, note: `tx-${n}`, league: 'y' };
      m.rows[this.del] = null;
      await readsOwn(m, r, this.i, this.set, `${this}`);
      await readsOwn(m, r, this.i, this.del, `${this}`);
    }
    toString = () => `tx(${this.i}, set k${this.set}, delete k${this.del})`;
  }

  class InvalidateCmd implements fc.AsyncCommand<Model, Real> {
    constructor(
      readonly i: Inst,
      readonly what: number | 'all' | 'x' | 'y',
    ) {}
    check = () => true;
    async run(m: Model, r: Real) {
      const x = r.inst[this.i];
      const s = schemas[this.i];
      if (this.what === 'all') await x.invalidateAll(s);
      else if (this.what === 'x' || this.what === 'y') await x.invalidateTags([`league:${this.what}`]);
      else await x.invalidate(s, r.key(this.what));
      for (let id = 0; id < IDS; id++) await readsOwn(m, r, this.i, id, `${this}`);
    }
    toString = () =>
      typeof this.what === 'number'
        ? `invalidate(${this.i}, k${this.what})`
        : this.what === 'all'
          ? `invalidateAll(${this.i})`
          : `invalidateTags(${this.i}, ${this.what})`;
  }

  class FlushCmd implements fc.AsyncCommand<Model, Real> {
    constructor(
      readonly i: 'w1' | 'w2',
      readonly lostReply: boolean,
    ) {}
    check = () => true;
    async run(m: Model, r: Real) {
      if (this.lostReply && this.i === 'w1') {
        r.lose(true);
        // The batch's outcome is unknown to w1: it holds it (retried later); the error may surface.
        await r.inst.w1.flushDirty().catch(() => undefined);
        r.lose(false);
      } else {
        await r.inst[this.i].flushDirty();
        m.pending.clear();
      }
    }
    toString = () => `flush(${this.i}${this.lostReply ? ', reply lost' : ''})`;
  }

  class ReadCmd implements fc.AsyncCommand<Model, Real> {
    constructor(readonly i: Inst) {}
    check = () => true;
    async run(m: Model, r: Real) {
      await caughtUp(r, this.i);
      for (let id = 0; id < IDS; id++) {
        expect(view(await r.inst[this.i].find(schemas[this.i], r.key(id))), `${this}, k${id}`).toEqual(
          m.rows[id],
        );
      }
    }
    toString = () => `read(${this.i})`;
  }

  const inst = fc.constantFrom<Inst>('w1', 'w2', 't', 'a');
  const id = fc.integer({ min: 0, max: IDS - 1 });
  const league = fc.constantFrom('x', 'y');
  const commands = [
    fc.tuple(inst, id, fc.boolean(), league).map(([i, k, p, l]) => new SetCmd(i, k, p, l)),
    fc.tuple(inst, id, fc.boolean(), league).map(([i, k, p, l]) => new SetCmd(i, k, p, l)),
    fc.tuple(inst, id).map(([i, k]) => new DeleteCmd(i, k)),
    fc.tuple(inst, id, id).map(([i, s, d]) => new TxCmd(i, s, d)),
    fc
      .tuple(inst, fc.constantFrom<number | 'all' | 'x' | 'y'>(0, 1, 2, 'all', 'x', 'y'))
      .map(([i, w]) => new InvalidateCmd(i, w)),
    fc.tuple(fc.constantFrom<'w1' | 'w2'>('w1', 'w2'), fc.boolean()).map(([i, l]) => new FlushCmd(i, l)),
    inst.map((i) => new ReadCmd(i)),
  ];

  it('every instance reads each acknowledged write; after the flush every tier equals Postgres', async () => {
    let run = 0;
    const channel = `${name}:bus`;
    const open = (i: Inst, l3?: L3Tier) =>
      scratch.strata({
        schemas: [schemas[i]],
        ...(l3 && { l3 }),
        coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel }) },
        writeBehind: {
          // Entries idle 300 ms are taken over by another consumer: a held batch is redelivered.
          queue: createRedisStreamQueue({ url: redisUrl, keyPrefix: name, allowVolatile: true, claimIdleMs: 300 }),
        },
      });
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 14 }), async (cmds) => {
        run += 1;
        const lossy = lossyL3(createDrizzleL3(db, { migrationsSchema: pgName }));
        const extra: Strata[] = [];
        const real: Real = {
          run,
          inst: { w1: open('w1', lossy.l3), w2: open('w2'), t: open('t'), a: open('a') },
          lose: lossy.loseReplies,
          fresh: (i) => {
            const x = open(i);
            extra.push(x);
            return x;
          },
          key: (k) => `r${run}-k${k}`,
        };
        const model: Model = { rows: Array.from({ length: IDS }, () => null), pending: new Set() };
        try {
          for (const i of Object.keys(MODE) as Inst[]) await real.inst[i].find(schemas[i], real.key(0)); // subscribed
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          await real.inst.w1.flushDirty();
          await real.inst.w2.flushDirty();
          const stored = await admin.query<Row & { id: string }>(
            `select id, n, note, league from "${pgName}".items where id like $1`,
            [`r${run}-%`],
          );
          const inPg = Array.from({ length: IDS }, (_, k) => view(stored.rows.find((x) => x.id === real.key(k))));
          expect(inPg, 'Postgres holds the last acknowledged writes').toEqual(model.rows);
          for (const i of Object.keys(MODE) as Inst[]) {
            await caughtUp(real, i);
            for (let k = 0; k < IDS; k++) {
              expect(view(await real.inst[i].find(schemas[i], real.key(k))), `${i} k${k} after the flush`).toEqual(
                model.rows[k],
              );
              expect(view(await real.fresh(i).find(schemas[i], real.key(k))), `new ${i} k${k}`).toEqual(
                model.rows[k],
              );
            }
          }
        } finally {
          await Promise.allSettled([...Object.values(real.inst), ...extra].map((x) => x.close()));
        }
      }),
      { numRuns: RUNS, seed: Number(process.env.HOSTILE7_SEED ?? 20261205), endOnFailure: true },
    );
  }, 300_000);
});

describe('a write whose COMMIT reply is lost, read on another instance', () => {
  // Instance a (write-through, or a write-behind flush) commits, and its reply is lost (a cut
  // connection): the caller gets an error of unknown outcome. docs/semantics.md: "its keys' cached
  // copies are dropped, so reads go to Postgres and see whichever outcome happened" — on every
  // instance once the bus delivered, not only on the writer (b holds the older row in L1).
  const scratch = scratchApp('hostile7_lost');
  const { name, pgName, db, redisUrl } = scratch;
  const table = pgSchema(pgName).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
  const through = defineSchema({ name: 'items', table });
  const behind = defineSchema({ name: 'items', table, writeMode: 'write-behind' });
  scratch.migrate(table);
  const open = (schema: typeof through, l3?: L3Tier) =>
    scratch.strata({
      schemas: [schema],
      ...(l3 && { l3 }),
      coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: `${name}:bus` }) },
    });
  const caughtUp = async (x: Strata, via: Strata, schema: typeof through) => {
    const heard = x.stats().invalidationsApplied;
    await via.invalidate(schema, `sentinel-${Math.random()}`);
    await expect.poll(() => x.stats().invalidationsApplied, { timeout: 3_000 }).toBeGreaterThan(heard);
  };

  it('write-through: the other instance reads the committed row, not its L1 copy', async () => {
    const lossy = lossyL3(createDrizzleL3(db, { migrationsSchema: pgName }));
    const a = open(through, lossy.l3);
    const b = open(through);
    const c = open(through);
    await a.set(through, { id: 'l1', n: 1 });
    expect((await b.get(through, 'l1')).n).toBe(1); // b's L1 holds n = 1
    lossy.loseReplies(true);
    const outcome = await a.set(through, { id: 'l1', n: 2 }).catch((e: unknown) => e);
    lossy.loseReplies(false);
    expect(outcome).toMatchObject({ code: 'L3_UNAVAILABLE' });
    expect(await scratch.n('l1')).toBe(2); // it committed
    await caughtUp(b, c, through);
    expect({ a: (await a.get(through, 'l1')).n, b: (await b.get(through, 'l1')).n, c: (await c.get(through, 'l1')).n }).toEqual({ a: 2, b: 2, c: 2 });
  });

  it('write-behind flush: the held batch is redelivered beside a newer write of its key; every tier ends at the newer one', async () => {
    const lossy = lossyL3(createDrizzleL3(db, { migrationsSchema: pgName }));
    const w1 = open(behind, lossy.l3);
    const w2 = open(behind);
    await w1.set(behind, { id: 'r1', n: 1 });
    await w1.set(behind, { id: 'r2', n: 1 });
    lossy.loseReplies(true);
    await w1.flushDirty().catch(() => undefined); // committed; w1 holds the batch (outcome unknown)
    lossy.loseReplies(false);
    expect([await scratch.n('r1'), await scratch.n('r2')]).toEqual([1, 1]);
    // Newer writes of both keys by another instance, flushed before w1 sends its batch again.
    await w2.set(behind, { id: 'r1', n: 2 });
    await w2.delete(behind, 'r2');
    await w2.flushDirty(); // waits for w1's held entries (30 s at most), or takes them over
    await w1.flushDirty(); // w1 sends its held batch again (or finds it taken)
    expect([await scratch.n('r1'), await scratch.n('r2')]).toEqual([2, undefined]);
    await caughtUp(w1, w2, behind);
    await caughtUp(w2, w1, behind);
    for (const x of [w1, w2, open(behind)]) {
      expect((await x.get(behind, 'r1')).n).toBe(2);
      expect(await x.find(behind, 'r2')).toBeNull();
    }
    expect(await w1.queueDepth()).toBe(0);
  }, 60_000);
});

describe('a flusher that dies after its COMMIT, its batch taken over beside newer writes of its keys', () => {
  // w1 takes a batch, Postgres commits it, and w1 never reports (a process killed after COMMIT: the
  // stream entries stay pending to w1's consumer). w2 meanwhile writes the same keys again (a set,
  // a delete, a partial set) and flushes: its flushDirty waits for w1's entries, then takes them
  // over after claimIdleMs and applies them again (at least once). The redelivered writes are
  // older than w2's: Postgres and every tier end at w2's writes, and nothing is left queued.
  const scratch = scratchApp('hostile7_dies');
  const { name, pgName, db, redisUrl, admin } = scratch;
  const table = pgSchema(pgName).table('items', {
    id: text('id').primaryKey(),
    n: integer('n').notNull(),
    note: text('note'),
  });
  const behind = defineSchema({ name: 'items', table, writeMode: 'write-behind' });
  scratch.migrate(table);
  const open = (l3?: L3Tier) =>
    scratch.strata({
      schemas: [behind],
      ...(l3 && { l3 }),
      coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: `${name}:bus` }) },
      writeBehind: {
        queue: createRedisStreamQueue({ url: redisUrl, keyPrefix: name, allowVolatile: true, claimIdleMs: 300 }),
      },
    });
  const row = async (id: string) =>
    (await admin.query(`select n, note from "${pgName}".items where id = $1`, [id])).rows[0] as
      | { n: number; note: string | null }
      | undefined;

  it('Postgres and every tier end at the newer writes; the redelivered batch changes nothing', async () => {
    const base = createDrizzleL3(db, { migrationsSchema: pgName });
    let die = false;
    let committed = false;
    let bury!: (err: Error) => void;
    const grave = new Promise<never>((_, reject) => {
      bury = reject;
    });
    const l3 = wrapL3(base, {
      write: async (ops) => {
        const outcome = await base.write(ops);
        if (die) {
          committed = true;
          return grave; // never answers (until the test ends)
        }
        return outcome;
      },
    });
    const w1 = open(l3);
    const w2 = open();
    await w1.set(behind, { id: 'd1', n: 1, note: 'one' });
    await w1.set(behind, { id: 'd2', n: 1, note: 'one' });
    await w1.set(behind, { id: 'd3', n: 1, note: 'one' });
    die = true;
    const dying = w1.flushDirty().catch(() => undefined);
    await expect.poll(() => committed, { timeout: 5_000 }).toBe(true);
    expect((await row('d1'))?.n).toBe(1);
    await w2.set(behind, { id: 'd1', n: 2, note: 'two' });
    await w2.delete(behind, 'd2');
    await w2.set(behind, { id: 'd3', n: 2 } as never); // partial: keeps note 'one'
    await w2.flushDirty();
    expect({ d1: await row('d1'), d2: await row('d2'), d3: await row('d3') }).toEqual({
      d1: { n: 2, note: 'two' },
      d2: undefined,
      d3: { n: 2, note: 'one' },
    });
    const fresh = open();
    for (const x of [w2, fresh]) {
      expect(await x.find(behind, 'd1')).toEqual({ id: 'd1', n: 2, note: 'two' });
      expect(await x.find(behind, 'd2')).toBeNull();
      expect(await x.find(behind, 'd3')).toEqual({ id: 'd3', n: 2, note: 'one' });
    }
    expect(await w2.queueDepth()).toBe(0);
    bury(new Error('Connection terminated unexpectedly'));
    await dying;
  }, 60_000);
});
