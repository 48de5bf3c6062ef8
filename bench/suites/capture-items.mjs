// The table the change-capture suites write, shared by the bench process and its child instance.
import { defineSchema } from '@strata/core';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';

export const shape = () => ({
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  n: integer('n').notNull(),
});

/** `capture_items` under the run's Postgres schema. */
export const itemsSchema = (schemaName) =>
  defineSchema({ table: pgSchema(schemaName).table('capture_items', shape()) });
