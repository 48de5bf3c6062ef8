import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { bigint, integer, jsonb, pgSchema, serial, text, timestamp } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrizzleL3 } from '../src/drizzle/l3.js';
import { defineSchema, Strata } from '../src/index.js';
import { sqlStateOf } from '../src/l3/pg-errors.js';
import type { L3Tier, Write } from '../src/l3/types.js';
import { DRIVERS, type Driver, engineStack } from './support/stack.js';

// A refused (or skipped) delete merged over a later partial set resets the columns no later write
// set to their defaults (`L3Tier.mergeRefused`), except those that make the row what it is: the
// key, insert-only (autoNowAdd) columns, identity and serial columns, generated columns (computed
// again from the others), and not-null columns with no default (a later partial set over no row
// could not have been inserted without them). A reset that a constraint refuses (a unique column's
// default another row holds) never fails the merge, nor the other writes merged with it: that
// write is left unmerged (its columns keep their values) and says why (`refusedBy`).

function columnsTable(schemaName: string) {
  return pgSchema(schemaName).table('merged_cols', {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    seq: integer('seq').generatedByDefaultAsIdentity(),
    fixed: integer('fixed').generatedAlwaysAsIdentity(),
    serialN: serial('serial_n'),
    n: integer('n').default(7),
    twice: integer('twice').generatedAlwaysAs(sql`coalesce(n, 0) * 2`),
    tags: text('tags').array().default([]),
    meta: jsonb('meta').$type<Record<string, unknown>>().default({ a: 1 }),
    big: bigint('big', { mode: 'bigint' }).default(5n),
    note: text('note'),
    code: text('code').unique().default('none'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  });
}

type Fixture = { l3: L3Tier; run(statement: string): Promise<unknown>; cleanup(): Promise<void> };

function mergedDeleteCases(label: string, fixture: (schemaName: string) => Promise<Fixture>) {
  describe(`merged deletes' columns over ${label}`, () => {
    const schemaName = `t_floor2_cols_${label.replace(/-/g, '_')}_${process.pid}`;
    const table = columnsTable(schemaName);
    const schema = defineSchema({ table, fields: { createdAt: { autoNowAdd: true } } });
    let f: Fixture;
    beforeAll(async () => {
      f = await fixture(schemaName);
      await new Strata({ l3: f.l3, schemas: [schema] }).migrate();
    });
    afterAll(() => f?.cleanup());

    const write = async (...writes: Write[]) => (await f.l3.write([{ schema, writes }]))[0]!;
    const merge = async (...writes: Write[]) => (await f.l3.mergeRefused!([{ schema, writes }]))[0]!;
    const stored = async (id: string) => (await f.l3.findMany(schema, [id]))[0]?.row;
    const full = (id: string) =>
      ({ id, name: id, n: 1, tags: ['t'], meta: { b: 2 }, big: 9n, note: 'x', code: id }) as never;

    it('resets the others to their defaults; keeps the key, insert-only, identity, serial and not-null ones', async () => {
      await write({ row: full('a'), version: 10 });
      const before = (await stored('a'))!;
      await write({ row: { id: 'a', name: 'a', note: 'later' } as never, version: 30 });
      expect((await write({ id: 'a', version: 20 }))[0]!.applied).toBe(false);
      const [merged] = await merge({ id: 'a', version: 20 });
      expect(merged!.applied).toBe(true);
      expect(await stored('a')).toEqual({
        ...before,
        note: 'later',
        n: 7,
        twice: 14,
        tags: [],
        meta: { a: 1 },
        big: 5n,
        code: 'none',
      });
    });

    it("a reset a constraint refuses (a unique default another row holds) fails neither it nor the others' merge", async () => {
      for (const id of ['u1', 'u2', 'u3']) await write({ row: full(id), version: 10 });
      for (const id of ['u1', 'u2', 'u3'])
        await write({ row: { id, name: id, note: 'later' } as never, version: 30 });
      for (const id of ['u4', 'u5']) await write({ row: full(id), version: 10 });
      for (const id of ['u4', 'u5'])
        await write({ row: { id, name: id, note: 'later' } as never, version: 30 });
      const outcomes = await merge(
        { id: 'u1', version: 20 },
        { id: 'u2', version: 20 },
        { row: { id: 'u3', name: 'u3', n: 3 } as never, version: 20 },
        // A replacing set (its resets refused too), a set of a value another row holds: unmerged.
        { row: { id: 'u4', name: 'u4', n: 4 } as never, version: 20, replace: true },
        { row: { id: 'u5', name: 'u5', code: 'u1' } as never, version: 20 },
      );
      // 'a' holds code 'none' already: neither delete can reset it; the set merges.
      expect(outcomes.map((o) => o.applied)).toEqual([false, false, true, false, false]);
      expect(outcomes.map((o) => sqlStateOf(o.refusedBy))).toEqual([
        '23505',
        '23505',
        undefined,
        '23505',
        '23505',
      ]);
      expect(await stored('u1')).toMatchObject({ code: 'u1', n: 1, note: 'later' });
      expect(await stored('u2')).toMatchObject({ code: 'u2', n: 1, note: 'later' });
      expect(await stored('u3')).toMatchObject({ code: 'u3', n: 3, note: 'later' });
      expect(await stored('u4')).toMatchObject({ code: 'u4', n: 1, note: 'later', tags: ['t'] });
      expect(await stored('u5')).toMatchObject({ code: 'u5', n: 1, note: 'later' });
    });

    // A default only the database has (another deploy's migration, plain SQL): what an insert of
    // the row leaving the column out stores, not Drizzle's (none, or another). Learnt at migrate(),
    // changed since: the merge learns the table again.
    it("resets to the column's default in Postgres, one only the database has too", async () => {
      const alter = (change: string) => f.run(`alter table "${schemaName}".merged_cols ${change}`);
      await alter(`alter column note set default 'db-note', alter column n set default 8`);
      await alter(`alter column name set default 'anon'`);
      await write({ row: full('d'), version: 10 });
      const before = (await stored('d'))!;
      await write({ row: { id: 'd', name: 'd', code: 'd2' } as never, version: 30 });
      const [merged] = await merge({ id: 'd', version: 20 });
      expect(merged!.applied).toBe(true);
      expect(await stored('d')).toEqual({
        ...before,
        name: 'd',
        code: 'd2',
        note: 'db-note',
        n: 8,
        twice: 16,
        tags: [],
        meta: { a: 1 },
        big: 5n,
      });
      // A not-null column with a default only the database has is reset too (a partial set leaving
      // it out over no row inserts it with that default).
      await write({ row: full('e'), version: 10 });
      await write({ row: { id: 'e', name: 'e', note: 'later', code: 'e2' } as never, version: 30 });
      await write({ row: { id: 'e', note: 'later', code: 'e2' } as never, version: 40 });
      await merge({ id: 'e', version: 35 });
      expect(await stored('e')).toMatchObject({ name: 'anon', note: 'later', n: 8, code: 'e2' });
    });
  });
}

for (const driver of DRIVERS as Driver[]) {
  mergedDeleteCases(driver, async (schemaName) => {
    const stack = await engineStack(`floor2_cols_${driver}`, driver);
    const db = stack.db;
    return {
      l3: stack.l3,
      run: (statement) => db.execute(sql.raw(statement)),
      cleanup: async () => {
        await db.execute(sql.raw(`drop schema if exists "${schemaName}" cascade`));
        await stack.cleanup();
      },
    };
  });
}

mergedDeleteCases('pglite', async (schemaName) => {
  const client = new PGlite();
  await client.waitReady;
  return {
    l3: createDrizzleL3(drizzlePglite({ client }), { migrationsSchema: schemaName }),
    run: (statement) => client.exec(statement),
    cleanup: () => client.close(),
  };
});
