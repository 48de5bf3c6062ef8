import {
  bigint,
  boolean,
  customType,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgSchema,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { defineSchema } from '../src/schema/define-schema.js';

/** bytea as `Uint8Array`, also from neon-http, where it arrives as `\\x…` text. */
export const bytea = customType<{ data: Uint8Array; driverData: Uint8Array | string }>({
  dataType: () => 'bytea',
  toDriver: (value) => value,
  // Drivers give a Buffer (a Uint8Array subclass) or a Uint8Array: the row holds a plain copy.
  fromDriver: (value) =>
    typeof value === 'string'
      ? Uint8Array.from(value.slice(2).match(/../g) ?? [], (h) => Number.parseInt(h, 16))
      : new Uint8Array(value),
});

export const MALICIOUS = `'); DROP TABLE "x"; -- \\' \\\\ "q" $$ $1 ü`;

const evolving1 = () => ({ id: text('id').primaryKey(), name: text('name') });
const evolving2 = () => ({
  ...evolving1(),
  note: text('note'),
  score: integer('score').notNull().default(0),
});
const evolving3 = () => ({ ...evolving2(), must: integer('must').notNull() });

/** The tables of the migration and row tests, all in `schemaName`. */
export function model(schemaName: string) {
  const s = pgSchema(schemaName);
  const kinds = s.table(
    'kinds',
    {
      id: text('id').primaryKey(),
      label: text('label').unique(),
      count: integer('count'),
      big: bigint('big', { mode: 'bigint' }),
      ratio: doublePrecision('ratio'),
      flag: boolean('flag'),
      at: timestamp('at', { withTimezone: true, mode: 'date' }),
      data: bytea('data'),
      doc: jsonb('doc'),
      createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    },
    (t) => [index().on(t.count), uniqueIndex('kinds_big_uq').on(t.big)],
  );
  const bulkColumns = {
    id: integer('id').primaryKey(),
    a: text('a').notNull(),
    b: integer('b'),
    c: doublePrecision('c'),
    d: boolean('d'),
  };
  const weirdName = 'we"ird tåble 🎉';
  const weirdColumns = {
    id: text('id "x"').primaryKey(),
    value: text(`välue 'q'`).default(MALICIOUS),
    meta: jsonb('meta').default({ "it's": 'back\\slash' }),
    long: text('ü'.repeat(30)),
  };
  return {
    kinds: defineSchema({
      table: kinds,
      fields: { createdAt: { autoNowAdd: true } },
      indexes: [{ fields: ['flag'] }],
    }),
    bulk: defineSchema({ table: s.table('bulk', bulkColumns) }),
    weird: defineSchema({
      name: 'weird',
      table: s.table(weirdName, weirdColumns),
      indexes: [{ fields: ['long'] }],
    }),
    events: defineSchema({
      table: s.table('events', { id: bigint('id', { mode: 'bigint' }).primaryKey(), at: timestamp('at') }),
      l3: { partitionBy: 'id' },
    }),
    badEvents: defineSchema({
      table: s.table('bad_events', { id: text('id').primaryKey(), at: timestamp('at').notNull() }),
      l3: { partitionBy: 'at' },
    }),
    evolving: {
      v1: defineSchema({ table: s.table('evolving', evolving1()) }),
      v2: defineSchema({ table: s.table('evolving', evolving2()), indexes: [{ fields: ['score'] }] }),
      v3: defineSchema({ table: s.table('evolving', evolving3()), indexes: [{ fields: ['score'] }] }),
    },
    fresh: {
      v1: defineSchema({ table: s.table('fresh', { id: text('id').primaryKey() }) }),
      v2: defineSchema({
        table: s.table('fresh', { id: text('id').primaryKey(), must: integer('must').notNull() }),
      }),
    },
    race: defineSchema({ table: s.table('race', { id: text('id').primaryKey(), n: integer('n') }) }),
    handmade: defineSchema({
      table: s.table('handmade', { id: text('id').primaryKey(), n: integer('n') }, (t) => [index().on(t.n)]),
    }),
  };
}

export type Model = ReturnType<typeof model>;

/** Catalog views for checks the L3 seam does not expose. */
export const catalog = {
  columns: pgSchema('information_schema').table('columns', {
    tableSchema: text('table_schema').notNull(),
    tableName: text('table_name').notNull(),
    columnName: text('column_name').notNull(),
    isNullable: text('is_nullable').notNull(),
  }),
  tables: pgSchema('information_schema').table('tables', {
    tableSchema: text('table_schema').notNull(),
    tableName: text('table_name').notNull(),
  }),
  indexes: pgSchema('pg_catalog').table('pg_indexes', {
    schemaName: text('schemaname').notNull(),
    tableName: text('tablename').notNull(),
    indexName: text('indexname').notNull(),
    indexDef: text('indexdef').notNull(),
  }),
};
