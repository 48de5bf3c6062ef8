import { defineSchema, Q, type Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { lapseWriterClaims } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { scratchApp } from '../support/scratch-app.js';
import { wrapL3 } from '../support/wrap-l3.js';

// A DOUBLE takeover (docs/semantics.md, "Takeover"): app A owns the table and has write-behind
// writes queued (epoch E1) when its claim lapses (its instances cut off from Postgres: here, A
// simply does not flush); app B takes the table (a new epoch E2), writes the same keys and stops;
// A takes the table back (a newer epoch E3) while its E1 writes are still queued, and writes the
// keys again, write-behind and write-through (another instance of A). Nothing B wrote marked A's
// pending index (another key namespace). Every phase's writes were acknowledged after the one
// before it, so the version order is the order they were made in: the expected rows are those
// writes applied one by one (`model`). Every tier (get, search, searchCached, count, Postgres) must
// read so after the flush. Before the fix, A's new-epoch partial sets carried its E1 writes'
// columns over B's (and replaced the row over a queued delete): SEED_COUNTER now gives A's queued
// writes come-back marks when A's claim takes the table from B.

type Row = { id: string; n: number | null; note: string | null; extra: string | null };
type Write = Partial<Row> & { id: string };

describe('a double takeover: A, then B, then A again with its old writes still queued', () => {
  const scratch = scratchApp('double_takeover');
  const { name, pgName, admin, raw, db } = scratch;
  const table = pgSchema(pgName).table('items', {
    id: text('id').primaryKey(),
    n: integer('n'),
    note: text('note'),
    extra: text('extra'),
  });
  const behind = defineSchema({ name: 'items', table, writeMode: 'write-behind', l1: false });
  const through = defineSchema({ name: 'items', table, writeMode: 'write-through', l1: false });
  type Schema = typeof behind;
  scratch.migrate(table);
  const lapse = () => lapseWriterClaims(admin, pgName, { redis: raw, keyPrefix: name });

  /** The rows as the writes made so far leave them, applied in the order they were made. */
  const model = new Map<string, Row>();
  const write = async (s: Strata, schema: Schema, w: Write | string) => {
    if (typeof w === 'string') {
      await s.delete(schema, w);
      model.delete(w);
      return;
    }
    await s.set(schema, w as never);
    const was = model.get(w.id);
    model.set(w.id, { ...{ n: null, note: null, extra: null }, ...was, ...w });
  };
  const expected = () => [...model.values()].sort((x, y) => (x.id < y.id ? -1 : 1));
  const tiers = async (s: Strata, schema: Schema, ids: readonly string[]) => ({
    gets: (await Promise.all(ids.map((id) => s.find(schema, id)))).filter((r) => r !== null),
    search: await s.search(schema, Q().orderBy('id').limit(100).build()),
    searchCached: await s.searchCached(schema, Q().orderBy('id').limit(100).build()),
    count: await s.count(schema, Q().build()),
  });
  const checkAll = async (instances: [Strata, Schema][], ids: readonly string[], what: string) => {
    const rows = expected();
    const stored = await admin.query<Row>(`select id, n, note, extra from "${pgName}".items order by id`);
    expect(stored.rows, `Postgres ${what}`).toEqual(rows);
    const want = { gets: rows, search: rows, searchCached: rows, count: rows.length };
    for (const [i, [s, schema]] of instances.entries())
      expect(await tiers(s, schema, ids), `instance ${i} (${schema.writeMode}) ${what}`).toEqual(want);
  };
  /**
   * An app's write-behind instance whose clock `ahead` moves past its lease, and whose next L3 write
   * is held, once `hold` is called, until the function it returns is called.
   */
  const app = (keyPrefix: string) => {
    const clock = { ahead: 0 };
    const l3 = createDrizzleL3(db, { migrationsSchema: pgName });
    let held: Promise<void> | undefined;
    const s = scratch.strata({
      keyPrefix,
      schemas: [behind],
      clock: { now: () => Date.now() + clock.ahead },
      l3: wrapL3(l3, {
        write: async (ops) => {
          const wait = held;
          held = undefined;
          if (wait) await wait;
          return l3.write(ops);
        },
      }),
    });
    const hold = () => {
      let release = () => {};
      held = new Promise<void>((r) => {
        release = r;
      });
      return release;
    };
    return { s, clock, hold };
  };
  const ids = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8'];
  /** A's flush, then every tier of A's write-behind (`a`) and write-through (`t`) instances checked. */
  const flushedAndChecked = async (a: Strata, t: Strata) => {
    await a.flushDirty();
    const both: [Strata, Schema][] = [
      [a, behind],
      [t, through],
    ];
    await checkAll(both, ids, 'after A’s flush');
  };
  const seed = async (s: Strata) => {
    model.clear();
    for (const id of ids) await write(s, behind, { id, n: 0, note: '0', extra: '0' });
    await s.flushDirty();
  };

  /** A's E1 writes (queued), then B's (flushed, B stopped): every key a partial set, a set or a delete. */
  const aThenB = async (a: Strata, prefix: string, round: string) => {
    await write(a, behind, { id: 'k1', n: 1, note: `a${round}` });
    await write(a, behind, 'k2');
    await write(a, behind, { id: 'k3', n: 1, note: `a${round}`, extra: `a${round}` });
    await write(a, behind, { id: 'k4', note: `a${round}` });
    await write(a, behind, { id: 'k5', note: `a${round}` }); // B does not write k5
    await write(a, behind, { id: 'k6', note: `a${round}` });
    await write(a, behind, 'k7');
    await write(a, behind, { id: 'k8', note: `a${round}` });
    await lapse();
    const b = scratch.strata({ keyPrefix: prefix, schemas: [behind] });
    await write(b, behind, { id: 'k1', note: `b${round}` });
    await write(b, behind, { id: 'k2', n: 2, note: `b${round}`, extra: `b${round}` });
    await write(b, behind, 'k3');
    await write(b, behind, { id: 'k4', extra: `b${round}` });
    await write(b, behind, { id: 'k6', extra: `b${round}` });
    await write(b, behind, { id: 'k7', n: 2, note: `b${round}`, extra: `b${round}` });
    await write(b, behind, { id: 'k8', extra: `b${round}` });
    await b.flushDirty();
    await b.close();
    await lapse();
  };
  /** A's writes after it took the table back: write-behind (`a`) and write-through (`t`). */
  const aAgain = async (a: Strata, t: Strata, round: string) => {
    await write(a, behind, { id: 'k1', n: 3 });
    await write(a, behind, { id: 'k2', n: 3 });
    await write(a, behind, { id: 'k3', n: 3, extra: `a${round}` });
    await write(a, behind, { id: 'k4', n: 3 });
    await write(a, behind, 'k8');
    await write(t, through, { id: 'k6', n: 3 });
    await write(t, through, { id: 'k7', n: 3 });
  };

  // A's clock skewed by an hour either way from the start: its lease is trusted for a time measured
  // on its own clock (elapsed since it sent the claim), Postgres' lease on Postgres' clock.
  it.each([
    ['on time', 0],
    ['an hour behind', -3_600_000],
    ['an hour ahead', 3_600_000],
  ] as const)(
    'A (its clock %s) takes the table back with a write-behind write: every tier in version order after the flush',
    async (_, skew) => {
      const prefix = `${name}a${skew < 0 ? 'm' : skew > 0 ? 'p' : ''}`;
      const { s: a, clock } = app(prefix);
      clock.ahead = skew;
      await seed(a);
      await aThenB(a, `${name}b`, '1');
      clock.ahead = skew + 61_000; // past A's lease on its own clock: its next write claims in Postgres
      const t = scratch.strata({ keyPrefix: prefix, schemas: [through] });
      await aAgain(a, t, '3');
      // Before the flush, A's search reads every key whose row needs no merge of a refused write.
      const early = (await a.search(behind, Q().orderBy('id').limit(100).build())).filter(
        (r) => r.id !== 'k4' && r.id !== 'k6',
      );
      expect(early, 'A before its flush').toEqual(expected().filter((r) => r.id !== 'k4' && r.id !== 'k6'));
      await a.flushDirty();
      const fresh = scratch.strata({ keyPrefix: prefix, schemas: [behind] });
      await checkAll(
        [
          [a, behind],
          [t, through],
          [fresh, behind],
        ],
        ids,
        'after A’s flush',
      );
    },
  );

  it('A takes the table back with a write-through write first', async () => {
    const { s: a, clock } = app(`${name}c`);
    await seed(a);
    await aThenB(a, `${name}d`, '1');
    clock.ahead = 61_000;
    const t = scratch.strata({ keyPrefix: `${name}c`, schemas: [through] });
    // The write-through instance writes first (B wrote n of k7 last): A's counter is still E1's.
    await write(t, through, { id: 'k7', n: 4 });
    await write(t, through, { id: 'k2', note: 'at' });
    await aAgain(a, t, '3');
    await flushedAndChecked(a, t);
  });

  it('a triple handover: A, B, A, B, A, with A’s writes of both of its terms queued', async () => {
    const { s: a, clock } = app(`${name}e`);
    await seed(a);
    const t = scratch.strata({ keyPrefix: `${name}e`, schemas: [through] });
    await aThenB(a, `${name}f`, '1');
    clock.ahead = 61_000;
    await aAgain(a, t, '3');
    // A is cut off again with its E3 writes queued (and its E1 ones); B takes the table again.
    clock.ahead = 122_000;
    await aThenB(a, `${name}f`, '5');
    clock.ahead = 183_000;
    await aAgain(a, t, '7');
    await flushedAndChecked(a, t);
  });

  it('B takes the table over while A’s flush is under way (its statement late): it lands after B’s and A’s new writes', async () => {
    const { s: a, clock, hold } = app(`${name}g`);
    await seed(a);
    const t = scratch.strata({ keyPrefix: `${name}g`, schemas: [through] });
    await write(a, behind, { id: 'k1', n: 1, note: 'a1' });
    await write(a, behind, 'k2');
    await write(a, behind, { id: 'k4', note: 'a1' });
    await write(a, behind, { id: 'k6', note: 'a1' });
    const release = hold();
    let flushed = false;
    const flushing = a.flushDirty().then(() => {
      flushed = true;
    }); // its statement held: it reaches Postgres last
    await lapse();
    const b = scratch.strata({ keyPrefix: `${name}h`, schemas: [behind] });
    await write(b, behind, { id: 'k1', note: 'b' });
    await write(b, behind, { id: 'k2', n: 2, note: 'b', extra: 'b' });
    await write(b, behind, { id: 'k4', extra: 'b' });
    await write(b, behind, { id: 'k6', extra: 'b' });
    await b.flushDirty();
    await b.close();
    await lapse();
    clock.ahead = 61_000;
    await aAgain(a, t, '3');
    expect(flushed, 'A’s first flush still held').toBe(false);
    release();
    await flushing;
    await flushedAndChecked(a, t);
  });
});
