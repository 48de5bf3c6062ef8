import { defineSchema, type Strata } from '@strata/core';
import { sql } from 'drizzle-orm';
import { integer, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { T0 } from '../support/defaults-app.js';
import { scratchApp } from '../support/scratch-app.js';

// A column with a default for a new row and `$onUpdateFn` takes, in a new row Drizzle's own insert
// makes, its default (Postgres' DEFAULT): Drizzle's pg-core dialect calls `onUpdateFn` on insert
// only for a column without `defaultFn` and without a (truthy) `default`. Strata took the update
// value instead: the engine's client defaults of a write-behind new row, and the flush's own insert
// (`withFunctionDefaults`, for a write-through set, a transaction, a write-behind flush), so a new
// row read 'upd' where Drizzle's reads 'lit', and the update value's time where it reads now().

describe("a new row's column with a default and `$onUpdateFn`, as Drizzle's insert makes it", () => {
  const scratch = scratchApp('defaults_onupdate');
  const { pgName, admin, db } = scratch;
  const table = pgSchema(pgName).table('items', {
    id: text('id').primaryKey(),
    a: integer('a'),
    lit: text('lit')
      .default('lit')
      .$onUpdateFn(() => 'upd'),
    now: timestamp('now', { withTimezone: true, mode: 'date' })
      .defaultNow()
      .$onUpdateFn(() => T0),
    expr: text('expr')
      .default(sql`'expr'`)
      .$onUpdateFn(() => 'upd'),
    // A falsy literal: Drizzle's insert takes the update value (it tests `!column.default`).
    zero: integer('zero')
      .default(0)
      .$onUpdateFn(() => 5),
  });
  scratch.migrate(table);
  const behind = defineSchema({ name: 'items', table, writeMode: 'write-behind' });
  const through = defineSchema({ name: 'items', table });
  const row = async (id: string) =>
    (await admin.query(`select id, a, lit, now, expr, zero from "${pgName}".items where id = $1`, [id]))
      .rows[0];

  it.each([
    ['write-behind set', 'behind'],
    ['write-through set', 'through'],
    ['transaction', 'tx'],
  ] as const)(
    'a %s of a new row stores what Drizzle inserts; a set over it, the update values',
    async (_, how) => {
      const id = `new-${how}`;
      const schema = how === 'through' ? through : behind;
      const s: Strata = scratch.strata({ schemas: [schema] });
      const before = Date.now();
      await db.insert(table).values({ id: `drizzle-${how}`, a: 1 });
      if (how === 'tx') await s.tx().set(schema, { id, a: 1 }).commit();
      else await s.set(schema, { id, a: 1 });
      await s.flushDirty();
      const drizzle = await row(`drizzle-${how}`);
      const stored = await row(id);
      expect({ ...stored, id: undefined, now: undefined }).toEqual({
        ...drizzle,
        id: undefined,
        now: undefined,
      });
      expect(stored).toMatchObject({ lit: 'lit', expr: 'expr', zero: 5 });
      // now(): the time of the insert (Postgres', or for a write-behind row the instance's), not T0.
      expect(stored.now.getTime()).toBeGreaterThanOrEqual(before - 1_000);
      expect(await s.find(schema, id)).toEqual(stored);

      if (how === 'tx') await s.tx().set(schema, { id, a: 2 }).commit();
      else await s.set(schema, { id, a: 2 });
      await s.flushDirty();
      expect(await row(id)).toEqual({ id, a: 2, lit: 'upd', now: T0, expr: 'upd', zero: 5 });
    },
  );
});
