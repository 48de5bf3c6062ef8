import { defineSchema } from '@strata/core';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { scratchApp } from './scratch-app.js';

const cols = { id: text('id').primaryKey(), a: integer('a'), b: text('b'), c: integer('c') };

/**
 * A scratch app (call inside a `describe`) over one table in a rolling deploy, as the model runs it:
 * v1 maps `id, a, b, c`, v2 adds `extra` (the table has it); v1's and v2's write-behind schemas,
 * v2's write-through one, and Postgres' row of a key: the regression files the model's rolling-deploy
 * runs found share it.
 */
export function shapesApp(label: string) {
  const scratch = scratchApp(label);
  const { pgName, admin } = scratch;
  const v1 = pgSchema(pgName).table('items', cols);
  const v2 = pgSchema(pgName).table('items', { ...cols, extra: text('extra') });
  scratch.migrate(v2);
  return {
    scratch,
    v1Behind: defineSchema({ name: 'items', table: v1, writeMode: 'write-behind' }),
    v2Behind: defineSchema({ name: 'items', table: v2, writeMode: 'write-behind' }),
    v2Through: defineSchema({ name: 'items', table: v2 }),
    row: async (id: string) =>
      (await admin.query(`select id, a, b, c, extra from "${pgName}".items where id = $1`, [id])).rows[0] ??
      null,
  };
}
