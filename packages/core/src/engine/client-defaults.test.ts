import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { defineSchema } from '../schema/define-schema.js';
import type { CompiledSchema } from '../schema/types.js';
import { applyClientDefaults, insertDefaults } from './client-defaults.js';

const T0 = new Date('2020-01-02T03:04:05.000Z');
const NOW = new Date('2026-01-01T00:00:00.000Z');

/** Each a default for a new row and `$onUpdateFn` (or not), as Drizzle's insert treats them. */
const table = pgTable('t', {
  id: text('id').primaryKey(),
  fn: text('fn')
    .$defaultFn(() => 'fn')
    .$onUpdateFn(() => 'upd'),
  lit: text('lit')
    .default('lit')
    .$onUpdateFn(() => 'upd'),
  now: timestamp('now', { withTimezone: true, mode: 'date' })
    .defaultNow()
    .$onUpdateFn(() => T0),
  expr: text('expr')
    .default(sql`'expr'`)
    .$onUpdateFn(() => 'upd'),
  // A falsy literal: Drizzle's insert tests `!column.default`, so it takes the update value.
  zero: integer('zero')
    .default(0)
    .$onUpdateFn(() => 5),
  upd: text('upd').$onUpdateFn(() => 'upd'),
  plain: text('plain').default('plain'),
});
const schema = defineSchema({ table }) as CompiledSchema;

/** What Drizzle's own insert of `{ id }` puts in each column: a parameter's value, or 'default'. */
function drizzleInsert(): Record<string, unknown> {
  const query = drizzle.mock().insert(table).values({ id: 'k' }).toSQL();
  const match = /\(([^)]*)\) values \(([^)]*)\)/.exec(query.sql)!;
  const names = match[1]!.split(', ').map((n) => n.replaceAll('"', ''));
  const cells = match[2]!.split(', ');
  return Object.fromEntries(
    names.map((name, i) => {
      const cell = cells[i]!;
      return [name, cell === 'default' ? 'default' : query.params[Number(cell.slice(1)) - 1]];
    }),
  );
}

describe('client defaults of a new row, as Drizzle inserts it', () => {
  it("a column with a default and `$onUpdateFn` takes the default, unless Drizzle's insert takes the update value", () => {
    expect(drizzleInsert()).toEqual({
      id: 'k',
      fn: 'fn',
      lit: 'default',
      now: 'default',
      expr: 'default',
      zero: 5,
      upd: 'upd',
      plain: 'default',
    });
    const row = { id: 'k' };
    const filled = applyClientDefaults(schema, row, NOW);
    // Drizzle's `default` filled with what Postgres' DEFAULT gives where the client knows it (a
    // literal, `defaultNow()` as the instance's clock); an SQL expression is left to Postgres.
    expect(filled).toEqual({ id: 'k', fn: 'fn', lit: 'lit', now: NOW, zero: 5, upd: 'upd', plain: 'plain' });
    // Those are an insert's alone; the update values apply on every write.
    expect(insertDefaults(schema, row, filled)).toEqual(['fn', 'lit', 'now', 'plain']);
  });

  it('over a row that exists, every `$onUpdateFn` column takes its update value, and nothing else is filled', () => {
    expect(applyClientDefaults(schema, { id: 'k' }, NOW, true)).toEqual({
      id: 'k',
      fn: 'upd',
      lit: 'upd',
      now: T0,
      expr: 'upd',
      zero: 5,
      upd: 'upd',
    });
  });
});
