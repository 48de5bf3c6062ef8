import { defineSchema, type Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { defaultsApp, T0 } from '../support/defaults-app.js';
import { heldL3 } from '../support/held-l3.js';
import { scratchApp } from '../support/scratch-app.js';
import { wrapL3 } from '../support/wrap-l3.js';

// A column's default is for an INSERT (Postgres' DEFAULT): it fills a column the write leaves out
// only when the write creates the row, never over a row's value. `$onUpdateFn` is the exception: it
// applies on every update. Follows regression-partial-over-held-tx.test.ts: instance A's transaction
// sets every column of a key with no row, its statement held at Postgres (its version reserved);
// meanwhile B sets two of them. B found no row, so it filled the defaults of the columns it left
// out ($defaultFn, a literal default, defaultNow()) and sent them as if set: laid over the
// transaction's row they overwrote its `d`, `e` and `f`. Over a row that exists, a partial set
// (write-through, transaction or write-behind) overwrote the `$defaultFn` column it left out.

describe('client defaults of a partial set: for a new row only', () => {
  const { scratch, behind, through, row, bus, txRow } = defaultsApp('defaults_held');
  const { pgName, db, admin } = scratch;
  /** Postgres holds one of `allowed`, and every instance reads what Postgres holds. */
  const settled = async (id: string, allowed: unknown[], ...instances: [Strata, typeof behind][]) => {
    const stored = await row(id);
    expect(allowed, `Postgres holds ${JSON.stringify(stored)}`).toContainEqual(stored);
    for (const [s, schema] of instances)
      await expect.poll(() => s.find(schema, id), { timeout: 5_000 }).toEqual(stored);
  };

  it.each([
    ['write-behind', 'behind'],
    ['write-through', 'through'],
  ] as const)("a %s partial set over no row keeps a held transaction's defaulted columns", async (_, how) => {
    const id = `held-${how}`;
    const held = heldL3(createDrizzleL3(db, { migrationsSchema: pgName }));
    const a = scratch.strata({ schemas: [behind], l3: held.l3, coherence: bus() });
    const schema = how === 'behind' ? behind : through;
    const b = scratch.strata({ schemas: [schema], coherence: bus() });
    held.holdNext();
    const tx = a.tx().set(behind, txRow(id)).commit();
    await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true);
    await b.set(schema, { id, b: 'set', c: 3 });
    held.open();
    await tx;
    await b.flushDirty();
    await a.flushDirty();
    const allowed = [
      { ...txRow(id), b: 'set', c: 3, g: 'upd' }, // the transaction, then the set ($onUpdateFn applies)
      txRow(id), // the set, then the transaction
    ];
    // Every instance, and a fresh one (L2's copy), at Postgres' row: the flush replaced the copies
    // of B's set, which read the defaults of a new row until then.
    const fresh = scratch.strata({ schemas: [behind], coherence: bus() });
    await settled(id, allowed, [a, behind], [b, schema], [fresh, behind]);
  });

  // B's second partial set lands over its first, still queued: it carries the first's columns as its
  // own, but not the first's defaults, which stay an insert's alone. The pending index (where a
  // partial set reads the key's queued columns) holds the defaults as values, so that a search reads
  // a new row's defaults before its flush as after it (search-pending.test.ts), and names them
  // beside the entry (`+{row key}`, see `named` in l2/scripts.ts): the second set carries them as
  // defaults, and the flush keeps them only where no write gave the column. Before, it sent them as
  // its own, over the transaction's `d`, `e` and `f`.
  it("a second write-behind partial set over the first, still queued, keeps the held transaction's columns", async () => {
    const id = 'held-twice';
    const held = heldL3(createDrizzleL3(db, { migrationsSchema: pgName }));
    const a = scratch.strata({ schemas: [behind], l3: held.l3, coherence: bus() });
    const b = scratch.strata({ schemas: [behind], coherence: bus() });
    held.holdNext();
    const tx = a.tx().set(behind, txRow(id)).commit();
    await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true);
    await b.set(behind, { id, b: 'set' });
    await b.set(behind, { id, c: 3 });
    held.open();
    await tx;
    await b.flushDirty();
    await a.flushDirty();
    await settled(id, [{ ...txRow(id), b: 'set', c: 3, g: 'upd' }, txRow(id)], [a, behind], [b, behind]);
  });

  // Postgres did not answer B's read of the row (a stored row another writer made): B's partial set
  // went as a new row, its defaults sent as if set, over the stored values.
  it('a write-behind partial set whose row Postgres did not give leaves the stored defaulted columns', async () => {
    const id = 'unread';
    await admin.query(
      `insert into "${pgName}".items (id, a, b, c, d, e, f, g) values ($1, 1, 'tx', 1, 'tx', 'tx', $2, 'tx')`,
      [id, T0],
    );
    const l3 = createDrizzleL3(db, { migrationsSchema: pgName });
    const down = () => Promise.reject(new Error('Connection terminated unexpectedly'));
    const b = scratch.strata({ schemas: [behind], l3: wrapL3(l3, { findMany: down }), coherence: bus() });
    await b.set(behind, { id, b: 'set', c: 3 });
    await b.flushDirty();
    await settled(
      id,
      [{ ...txRow(id), b: 'set', c: 3, g: 'upd' }],
      [scratch.strata({ schemas: [behind] }), behind],
    );
  });

  it.each([
    ['write-through set', 'through'],
    ['transaction', 'tx'],
    ['write-behind set', 'behind'],
  ] as const)('a %s over an existing row leaves its unsent $defaultFn column alone', async (_, how) => {
    const id = `over-${how}`;
    const s = scratch.strata({ schemas: [how === 'through' ? through : behind], coherence: bus() });
    const schema = how === 'through' ? through : behind;
    await s.set(schema, txRow(id));
    await s.flushDirty();
    const partial = { id, b: 'set', c: 3 };
    if (how === 'tx') await s.tx().set(schema, partial).commit();
    else await s.set(schema, partial);
    await s.flushDirty();
    await settled(id, [{ ...txRow(id), b: 'set', c: 3, g: 'upd' }], [s, schema]);
  });

  it('a partial set of a new key still fills every default, and reads what Postgres holds', async () => {
    const s = scratch.strata({ schemas: [behind], coherence: bus() });
    await s.set(behind, { id: 'new', b: 'set' });
    const before = await s.find(behind, 'new');
    await s.flushDirty();
    const stored = await row('new');
    expect(stored).toMatchObject({ id: 'new', a: null, b: 'set', c: null, d: 'fn', e: 'lit', g: 'upd' });
    expect(stored.f).toBeInstanceOf(Date);
    // The defaults read before the flush are the ones it inserted.
    expect(before).toEqual(stored);
    await settled('new', [stored], [s, behind]);
  });
});

// A column with both `$defaultFn` and `$onUpdateFn`: Drizzle's own insert takes the `$defaultFn`
// value (pg-core dialect's buildInsertQuery: `defaultFn`, else `onUpdateFn` only without a
// `default`), its update the `$onUpdateFn` one. Before, every Strata write took `$onUpdateFn`'s, a
// new row too: write-behind filled it (client-defaults.ts), write-through put it in the INSERT
// (drizzle/write-plan.ts).
describe('a column with both $defaultFn and $onUpdateFn: the default on insert, the update value after', () => {
  const scratch = scratchApp('defaults_both');
  const { pgName, db, admin } = scratch;
  const table = pgSchema(pgName).table('both', {
    id: text('id').primaryKey(),
    a: integer('a'),
    h: text('h')
      .$defaultFn(() => 'fn')
      .$onUpdateFn(() => 'upd'),
  });
  const behind = defineSchema({ name: 'both', table, writeMode: 'write-behind' });
  const through = defineSchema({ name: 'both', table });
  scratch.migrate(table);
  const stored = async (id: string) =>
    (await admin.query(`select id, a, h from "${pgName}".both where id = $1`, [id])).rows[0] ?? null;

  it.each([
    ['write-behind', 'behind'],
    ['write-through', 'through'],
  ] as const)('a %s set of a new row takes $defaultFn, an update of it $onUpdateFn', async (_, how) => {
    const schema = how === 'behind' ? behind : through;
    const id = `both-${how}`;
    const s = scratch.strata({ schemas: [schema] });
    await s.set(schema, { id, a: 1 });
    // Before the flush (write-behind: L1/L2's row) as after it.
    expect(await s.find(schema, id)).toEqual({ id, a: 1, h: 'fn' });
    await s.flushDirty();
    expect(await stored(id)).toEqual({ id, a: 1, h: 'fn' });
    await s.set(schema, { id, a: 2 });
    await s.flushDirty();
    expect(await stored(id)).toEqual({ id, a: 2, h: 'upd' });
    await expect.poll(() => s.find(schema, id), { timeout: 5_000 }).toEqual({ id, a: 2, h: 'upd' });
  });

  it("a write-behind partial set over no row, whose insert meets a row another writer made: that row's update value", async () => {
    const id = 'both-raced';
    const held = heldL3(createDrizzleL3(db, { migrationsSchema: pgName }));
    const a = scratch.strata({ schemas: [behind], l3: held.l3 });
    const b = scratch.strata({ schemas: [behind] });
    held.holdNext();
    const tx = a.tx().set(behind, { id, a: 1, h: 'tx' }).commit();
    await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true);
    await b.set(behind, { id, a: 3 });
    held.open();
    await tx;
    await b.flushDirty();
    expect(await stored(id)).toEqual({ id, a: 3, h: 'upd' });
  });
});
