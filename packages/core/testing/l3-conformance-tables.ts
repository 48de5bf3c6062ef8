import { bigint, integer, jsonb, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';
import type { Row } from '../src/l3/types.js';
import { defineSchema } from '../src/schema/define-schema.js';
import { bytea } from './l3-conformance-model.js';

/** The tables of the search, injection and transact tests, all in `schemaName`. */
export function queryModel(schemaName: string) {
  const s = pgSchema(schemaName);
  const people = s.table('people', {
    id: integer('id').primaryKey(),
    name: text('name').notNull(),
    team: text('team'),
    level: integer('level'),
    big: bigint('big', { mode: 'bigint' }),
    at: timestamp('at', { withTimezone: true, mode: 'date' }),
    data: bytea('data'),
    doc: jsonb('doc'),
  });
  const texts = s.table('texts', { id: integer('id').primaryKey(), body: text('body') });
  return {
    people: defineSchema({ table: people }),
    texts: defineSchema({ table: texts }),
    /** The Drizzle tables, to build conditions on (`$table` is a type only). */
    tables: { people, texts },
    accounts: defineSchema({
      table: s.table('accounts', {
        id: text('id').primaryKey(),
        owner: text('owner').notNull(),
        email: text('email').unique(),
        balance: integer('balance').notNull().default(0),
        createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
      }),
      fields: { createdAt: { autoNowAdd: true } },
    }),
    ledger: defineSchema({
      table: s.table('ledger', {
        id: integer('id').primaryKey(),
        account: text('account').notNull(),
        amount: integer('amount').notNull(),
        ref: text('ref').unique(),
      }),
    }),
    // Eight columns: 8,191 rows per INSERT, so 10,000 rows take two.
    wide: defineSchema({
      table: s.table('wide', {
        id: integer('id').primaryKey(),
        c1: text('c1').notNull(),
        c2: text('c2'),
        c3: integer('c3'),
        c4: integer('c4'),
        c5: bigint('c5', { mode: 'bigint' }),
        c6: timestamp('c6', { withTimezone: true, mode: 'date' }),
        c7: jsonb('c7'),
      }),
    }),
  };
}

export type QueryModel = ReturnType<typeof queryModel>;

export const PEOPLE = 60;
const BIG = 2n ** 60n;

/**
 * Rows with ties (team, level), nulls (level, team), bigints past 2^53, millisecond timestamps,
 * bytes and JSON: ordering, paging and decoding all have something to get wrong.
 */
export function peopleRows(): Row[] {
  return Array.from({ length: PEOPLE }, (_, i) => ({
    id: i + 1,
    name: `p${String(i).padStart(2, '0')}`,
    team: i % 13 === 12 ? null : (['red', 'green', 'blue'] as const)[i % 3]!,
    level: i % 11 === 5 ? null : i % 7,
    big: i % 2 === 0 ? BIG + BigInt(i) : -BIG - BigInt(i),
    at: new Date(Date.UTC(2024, 1, 29, 23, 59, 59, 999) + i * 3_600_001),
    data: Uint8Array.from([i, 255 - i, 0, 128]),
    doc: { tag: i % 2 === 0 ? 'even' : 'odd', n: i, list: [i, `${i}`, null], nested: { 'k"y': 'v\\w' } },
  }));
}

function compareValues(a: unknown, b: unknown): number {
  const [x, y] = a instanceof Date && b instanceof Date ? [a.getTime(), b.getTime()] : [a, b];
  // Strings, numbers and bigints alike; bigints past 2^53 must not go through Number.
  return (x as string) < (y as string) ? -1 : (x as string) > (y as string) ? 1 : 0;
}

/**
 * Postgres' own order, in JS: NULLS LAST ascending and NULLS FIRST descending, then the primary key.
 * Strings compare by code point, so keep them ASCII: collations may order other text differently.
 */
export function sortLikePostgres(
  rows: readonly Row[],
  orderBy: readonly { key: string; desc: boolean }[],
): Row[] {
  const terms = [...orderBy, { key: 'id', desc: false }];
  return [...rows].sort((x, y) => {
    for (const { key, desc } of terms) {
      const a = x[key];
      const b = y[key];
      if (a === b) continue;
      // null is the largest value: last ascending, first descending.
      const order = a === null ? 1 : b === null ? -1 : compareValues(a, b);
      if (order !== 0) return desc ? -order : order;
    }
    return 0;
  });
}
