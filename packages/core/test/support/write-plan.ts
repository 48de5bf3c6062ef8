// Schemas and helpers of the planWrite tests (l3-write-plan, l3-write-groups): no database, the plan only.
import { sql } from 'drizzle-orm';
import { customType, integer, pgSchema, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { type PlannedWrite, planWrite } from '../../src/drizzle/write-plan.js';
import type { Write, WriteOp } from '../../src/l3/types.js';
import { defineSchema } from '../../src/schema/define-schema.js';

const bytea = customType<{ data: Uint8Array }>({ dataType: () => 'bytea' });
export const items = defineSchema({
  table: pgTable('items', {
    id: integer('id').primaryKey(),
    n: integer('n'),
    note: text('note'),
    token: text('token').$defaultFn(() => 'js'),
    twice: integer('twice').generatedAlwaysAs(sql`n * 2`),
  }),
});
export const notes = defineSchema({
  table: pgTable('notes', { id: text('id').primaryKey(), body: text('body') }),
});
// Same table name in another Postgres schema: another identity, never coalesced with `notes`.
export const otherNotes = defineSchema({
  name: 'otherNotes',
  table: pgSchema('b').table('notes', { id: text('id').primaryKey(), body: text('body') }),
});
export const blobs = defineSchema({
  table: pgTable('blobs', { id: integer('id').primaryKey(), data: bytea('data') }),
});
export const tokens = defineSchema({ table: pgTable('tokens', { id: uuid('id').primaryKey() }) });

export const op = (schema: WriteOp['schema'], ...writes: Write[]): WriteOp => ({ schema, writes });
/** `[identity, key, version]` of each winner, in lock order. */
export const winners = (ops: WriteOp[]) =>
  planWrite(ops, 65_535).winners.map((w: PlannedWrite) => [w.schema.identity, w.key, w.version ?? null]);
