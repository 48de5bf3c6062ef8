import { sql } from 'drizzle-orm';
import {
  boolean,
  char,
  date,
  integer,
  interval,
  json,
  numeric,
  pgSchema,
  real,
  smallint,
  text,
  time,
  timestamp,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Row } from '../src/l3/types.js';
import { defineSchema } from '../src/schema/define-schema.js';
import { type L3Suite, loggedSince, otherL3, rowsOf, set, writeOne } from './l3-conformance-suite.js';

/** Tables with the column types a driver hands over in its own way (text, parsed, or its own objects). */
function typesModel(schemaName: string) {
  const s = pgSchema(schemaName);
  const mood = s.enum('mood', ['sad', 'ok', 'happy']);
  // Types a JSON recordset carries: a big call of them is one statement.
  const scalars = () => ({
    id: integer('id').primaryKey(),
    mood: mood('mood'),
    day: date('day', { mode: 'date' }),
    dayText: date('day_text'),
    amount: numeric('amount', { precision: 14, scale: 4 }),
    local: timestamp('local', { mode: 'string' }),
    localDate: timestamp('local_date'),
    small: smallint('small'),
    ratio: real('ratio'),
    ref: uuid('ref'),
    flag: boolean('flag'),
    code: char('code', { length: 3 }),
    short: varchar('short', { length: 10 }),
  });
  return {
    mood,
    scalars: defineSchema({ table: s.table('t_scalars', scalars()) }),
    // And types it does not: rows of them go as VALUES.
    others: defineSchema({
      table: s.table('t_others', {
        ...scalars(),
        tags: text('tags').array(),
        nums: integer('nums').array(),
        span: interval('span'),
        raw: json('raw'),
        clock: time('clock'),
      }),
    }),
  };
}

const scalarRow = (id: number): Row => ({
  id,
  mood: (['sad', 'ok', 'happy'] as const)[id % 3],
  day: new Date(Date.UTC(2024, 1, 29 - (id % 5))),
  dayText: `2023-12-${String(1 + (id % 28)).padStart(2, '0')}`,
  amount: `${id}1234567.${String(id % 10_000).padStart(4, '0')}`,
  // As Postgres prints it: no trailing zeros in the fraction.
  local: `2024-06-01 12:34:56.${(id % 9) + 1}5`,
  localDate: new Date(Date.UTC(2020, 0, 1, 0, 0, 0, id % 1_000)),
  small: id % 2 === 0 ? -32768 : 32767,
  ratio: id % 2 === 0 ? 0.5 : -2.25,
  ref: `${String(id % 100_000_000).padStart(8, '0')}-0000-4000-8000-00000000abcd`,
  flag: id % 2 === 0,
  code: 'ab ',
  short: `s${id % 1_000}`,
});

const otherRow = (id: number): Row => ({
  ...scalarRow(id),
  tags: ['a', 'b,c', '"q"', 'NULL', '{x}', '', `ü ${id}`],
  nums: [id, -1, 0],
  span: '1 day 02:03:04',
  raw: { id, list: [1, 'two', null] },
  clock: '23:59:58',
});

/** Every type back as Drizzle's own select gives it: writes' RETURNING (both forms), reads, searches. */
export function registerTypeTests(suite: L3Suite): void {
  const l3 = () => suite.l3();
  const t = typesModel(suite.schemaName);

  describe('column types through every statement form', () => {
    beforeAll(async () => {
      const db = suite.db()!;
      // migrate() creates tables, not enum types: the app's own SQL does.
      await db.execute(sql`create schema if not exists ${sql.identifier(suite.schemaName)}`);
      await db.execute(
        sql`create type ${sql.identifier(suite.schemaName)}.${sql.identifier('mood')} as enum ('sad', 'ok', 'happy')`,
      );
      await l3().migrate([t.scalars, t.others]);
    });

    for (const [label, schema, make] of [
      ['scalars', t.scalars, scalarRow],
      ['arrays, interval, json, time', t.others, otherRow],
    ] as const) {
      it(`${label}: RETURNING of one statement, of parts and of a recordset, and reads, give the rows back`, async () => {
        const few = [1, 2, 3].map(make);
        const [outcomes] = await l3().write([{ schema, writes: few.map((row) => set(row)) }]);
        expect(outcomes!.map((o) => o.row)).toEqual(few);
        // Under a small parameter limit: parts in a transaction, or one recordset, Redis-ordered too.
        const small = otherL3(suite, { maxParameters: 100 })!;
        const many = Array.from({ length: 40 }, (_, i) => make(100 + i));
        const mark = suite.log.length;
        const written = await writeOne(small, schema, ...many.map((row, i) => set(row, 1_000 + i)));
        expect(written.map((o) => o.row)).toEqual(many);
        expect(written.map((o) => o.version)).toEqual(many.map((_, i) => 1_000 + i));
        const recordset = loggedSince(suite, mark).some((s) => s.query.includes('jsonb_to_recordset'));
        expect(recordset).toBe(schema === t.scalars);
        const ids = [...few, ...many].map((r) => r.id);
        expect(rowsOf(await l3().findMany(schema, ids))).toEqual([...few, ...many]);
        const found = await l3().search(schema, { limit: 100, offset: 0 });
        expect(found.map((s) => s.row)).toEqual([...few, ...many]);
        expect(await l3().scan(schema, { after: 2, limit: 1 })).toEqual([{ row: few[2], version: 1 }]);
      });
    }
  });
}
