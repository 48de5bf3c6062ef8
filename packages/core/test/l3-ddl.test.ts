import { neon } from '@neondatabase/serverless';
import { DrizzleQueryError, sql } from 'drizzle-orm';
import { drizzle as neonHttp } from 'drizzle-orm/neon-http';
import { drizzle as nodePg } from 'drizzle-orm/node-postgres';
import {
  bigint,
  check,
  customType,
  index,
  integer,
  jsonb,
  pgEnum,
  pgSchema,
  pgTable,
  serial,
  text,
  timestamp,
  unique,
  uniqueIndex,
  withReplicas,
} from 'drizzle-orm/pg-core';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { columnDefinition, defaultClause } from '../src/drizzle/column-ddl.js';
import { createTableStatements } from '../src/drizzle/ddl.js';
import { driverError } from '../src/drizzle/driver-error.js';
import { quoteIdentifier, quoteLiteral, sqlLiteral, storedIdentifier } from '../src/drizzle/identifiers.js';
import { createDrizzleL3 } from '../src/drizzle/l3.js';
import { strataMigrationsTable } from '../src/drizzle/migrations-table.js';
import { schemaTableModel, tableModel } from '../src/drizzle/table-model.js';
import { detectTransactionMode, Transactions } from '../src/drizzle/transactions.js';
import { conflictSet, rowsPerStatement } from '../src/drizzle/upsert.js';
import { strataVersionsTable, versionsTableStatements } from '../src/drizzle/versions-table.js';
import { isStrataError } from '../src/errors.js';
import { sqlStateOf } from '../src/l3/pg-errors.js';
import { defineSchema } from '../src/schema/define-schema.js';

function thrown(work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('identifiers and literals', () => {
  it('quotes identifiers by doubling quotes, whatever they contain', () => {
    expect(quoteIdentifier('plain')).toBe('"plain"');
    expect(quoteIdentifier('we"ird"; drop table x; --')).toBe('"we""ird""; drop table x; --"');
    expect(quoteIdentifier('tåble 🎉')).toBe('"tåble 🎉"');
    expect(
      isStrataError(
        thrown(() => quoteIdentifier('a\u0000b')),
        'INVALID_MODEL',
      ),
    ).toBe(true);
  });

  it('escapes literals so they mean the same with or without standard_conforming_strings', () => {
    expect(quoteLiteral("it's")).toBe("'it''s'");
    expect(quoteLiteral("a\\'); drop")).toBe("E'a\\\\''); drop'");
    expect(sqlLiteral(null)).toBe('NULL');
    expect(sqlLiteral(-1.5)).toBe('-1.5');
    expect(sqlLiteral(Number.NaN)).toBe("'NaN'");
    expect(sqlLiteral(2n ** 70n)).toBe('1180591620717411303424');
    expect(sqlLiteral(true)).toBe('TRUE');
    expect(sqlLiteral(new Uint8Array([0, 39, 255]))).toBe("decode('0027ff', 'hex')");
    expect(sqlLiteral({ "k'": 1 })).toBe(`'{"k''":1}'`);
  });

  it('cuts names to the 63 bytes Postgres keeps, at a character boundary', () => {
    expect(storedIdentifier('a'.repeat(63))).toBe('a'.repeat(63));
    expect(storedIdentifier('a'.repeat(64))).toBe('a'.repeat(63));
    // 31 two-byte characters are 62 bytes; the 32nd would cross 63.
    expect(storedIdentifier('ü'.repeat(40))).toBe('ü'.repeat(31));
    expect(storedIdentifier(`${'a'.repeat(61)}🎉`)).toBe('a'.repeat(61));
  });
});

describe('column and table DDL', () => {
  const table = pgSchema('app').table(
    'things',
    {
      id: bigint('id', { mode: 'bigint' }).primaryKey(),
      name: text('name').notNull().default("O'Brien \\ co"),
      slug: text('slug').unique(),
      at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
      epoch: timestamp('epoch', { withTimezone: true }).default(new Date(0)),
      doc: jsonb('doc').default({ a: ["b'c"] }),
      n: integer('n').generatedAlwaysAsIdentity({ startWith: 10 }),
      twice: integer('twice').generatedAlwaysAs(sql`1 + 1`),
      seq: serial('seq'),
    },
    (t) => [
      index().on(t.name),
      uniqueIndex('things_slug_lower').on(sql`lower(${t.slug})`),
      index('by_at').on(t.at.desc()).where(sql`${t.name} <> ${"x'\\"}`),
      unique().on(t.name, t.slug).nullsNotDistinct(),
      check('positive', sql`${t.n} > 0`),
    ],
  );

  it('renders defaults from JS values and SQL, escaped', () => {
    const c = table;
    expect(defaultClause(c.name)).toBe("E'O''Brien \\\\ co'");
    expect(defaultClause(c.at)).toBe('(now())');
    expect(defaultClause(c.epoch)).toBe("'1970-01-01T00:00:00.000Z'");
    expect(defaultClause(c.doc)).toBe(`'{"a":["b''c"]}'`);
    expect(defaultClause(c.slug)).toBeUndefined();
  });

  it('renders constraints, identity and generated columns', () => {
    expect(columnDefinition(table.id, { primaryKey: true })).toBe('"id" bigint PRIMARY KEY NOT NULL');
    expect(columnDefinition(table.slug, { primaryKey: false })).toBe(
      '"slug" text CONSTRAINT "things_slug_unique" UNIQUE',
    );
    expect(columnDefinition(table.n, { primaryKey: false })).toBe(
      '"n" integer NOT NULL GENERATED ALWAYS AS IDENTITY (START WITH 10)',
    );
    expect(columnDefinition(table.twice, { primaryKey: false })).toBe(
      '"twice" integer GENERATED ALWAYS AS (1 + 1) STORED',
    );
  });

  it("names an enum column's type with its enum's schema, quoted", () => {
    const mood = pgSchema('app').enum('Mood', ['sad', 'ok']);
    const plain = pgEnum('plain', ['a']);
    const t = pgTable('moods', { mood: mood('mood').notNull(), plain: plain('plain') });
    expect(columnDefinition(t.mood, { primaryKey: false })).toBe('"mood" "app"."Mood" NOT NULL');
    expect(columnDefinition(t.plain, { primaryKey: false })).toBe('"plain" "plain"');
  });

  it('creates schema, table, constraints and indexes (drizzle-kit default index names)', () => {
    const statements = createTableStatements(tableModel(table));
    expect(statements[0]).toBe('CREATE SCHEMA IF NOT EXISTS "app"');
    expect(statements[1]).toMatch(
      /^CREATE TABLE IF NOT EXISTS "app"\."things" \("id" bigint PRIMARY KEY NOT NULL, /,
    );
    expect(statements[1]).toContain(
      'CONSTRAINT "things_name_slug_unique" UNIQUE NULLS NOT DISTINCT ("name", "slug")',
    );
    expect(statements[1]).toContain('CONSTRAINT "positive" CHECK ("n" > 0)');
    expect(statements.slice(2)).toEqual([
      'CREATE INDEX IF NOT EXISTS "things_name_index" ON "app"."things" ("name")',
      'CREATE UNIQUE INDEX IF NOT EXISTS "things_slug_lower" ON "app"."things" ((lower("slug")))',
      `CREATE INDEX IF NOT EXISTS "by_at" ON "app"."things" ("at" DESC NULLS LAST) WHERE "name" <> E'x''\\\\'`,
    ]);
  });

  it('creates _strata_migrations from its Drizzle definition', () => {
    expect(createTableStatements(tableModel(strataMigrationsTable()))).toEqual([
      'CREATE TABLE IF NOT EXISTS "_strata_migrations" ("id" integer PRIMARY KEY NOT NULL, "schema" text, ' +
        '"file_name" text NOT NULL, "checksum" text NOT NULL, "applied_at" timestamp with time zone DEFAULT (now()), ' +
        '"statements" jsonb)',
    ]);
    expect(createTableStatements(tableModel(strataMigrationsTable('ops')))[0]).toBe(
      'CREATE SCHEMA IF NOT EXISTS "ops"',
    );
  });

  it('creates _strata_versions with its two-column primary key', () => {
    expect(versionsTableStatements(strataVersionsTable())).toEqual([
      'CREATE TABLE IF NOT EXISTS "_strata_versions" ("schema" text NOT NULL, "id" text NOT NULL, ' +
        '"version" bigint NOT NULL, "deleted" boolean NOT NULL, ' +
        '"updated_at" timestamp with time zone NOT NULL DEFAULT (now()), "cols" jsonb, ' +
        'CONSTRAINT "_strata_versions_pkey" PRIMARY KEY ("schema", "id"))',
    ]);
    expect(versionsTableStatements(strataVersionsTable('ops'))).toEqual([
      'CREATE SCHEMA IF NOT EXISTS "ops"',
      expect.stringMatching(/^CREATE TABLE IF NOT EXISTS "ops"\."_strata_versions" \(/),
    ]);
  });

  it('writes out the same _strata_versions DDL the planner makes from its definition', () => {
    // versionsTableStatements is static SQL so that an L3 without migrate() carries no planner.
    for (const schema of [undefined, 'public', 'ops', 'we"ird schema']) {
      const table = strataVersionsTable(schema);
      expect(versionsTableStatements(table)).toEqual(createTableStatements(tableModel(table)));
    }
  });

  it('partitions by range with a default partition, and refuses what Postgres would refuse', () => {
    const events = pgTable('events', { id: text('id').primaryKey(), at: timestamp('at').notNull() });
    const ok = defineSchema({ table: events, l3: { partitionBy: 'id' } });
    const statements = createTableStatements(schemaTableModel(ok));
    expect(statements[0]).toMatch(/\) PARTITION BY RANGE \("id"\)$/);
    expect(statements[1]).toBe('CREATE TABLE IF NOT EXISTS "events_default" PARTITION OF "events" DEFAULT');
    const byAt = thrown(() => schemaTableModel(defineSchema({ table: events, l3: { partitionBy: 'at' } })));
    expect(isStrataError(byAt, 'INVALID_MODEL')).toBe(true);
    expect(String(byAt)).toMatch(/the primary key \(id\) does not contain it.*every unique constraint/);
    const uniqueEvents = pgTable('u_events', { id: text('id').primaryKey(), code: text('code').unique() });
    const withUnique = thrown(() =>
      schemaTableModel(defineSchema({ table: uniqueEvents, l3: { partitionBy: 'id' } })),
    );
    expect(String(withUnique)).toMatch(/unique column code/);
    const withIndex = defineSchema({
      table: events,
      l3: { partitionBy: 'id' },
      indexes: [{ fields: ['at'], unique: true }],
    });
    expect(String(thrown(() => schemaTableModel(withIndex)))).toMatch(/unique index events_at_idx/);
  });

  it('rejects index options that are not plain names', () => {
    const t = pgTable('t', { id: text('id').primaryKey() }, (c) => [index('i').using('btree; drop', c.id)]);
    expect(
      isStrataError(
        thrown(() => tableModel(t)),
        'INVALID_MODEL',
      ),
    ).toBe(true);
  });
});

describe('upsert building', () => {
  const bytea = customType<{ data: Uint8Array }>({ dataType: () => 'bytea' });
  const users = pgTable('users', {
    id: text('id').primaryKey(),
    name: text('name'),
    avatar: bytea('avatar'),
    createdAt: timestamp('created_at', { withTimezone: true }),
    updatedAt: timestamp('updated_at', { withTimezone: true }),
  });
  const schema = defineSchema({
    table: users,
    fields: { createdAt: { autoNowAdd: true }, updatedAt: { autoNow: true } },
  });

  it('keeps rows × columns under 65,535 parameters', () => {
    expect(rowsPerStatement(5)).toBe(13_106);
    expect(rowsPerStatement(5) * 5).toBeLessThan(65_535);
    expect(rowsPerStatement(1)).toBe(65_534);
    expect(rowsPerStatement(100_000)).toBe(1);
  });

  it('leaves the primary key, insert-only keys and absent columns out of ON CONFLICT SET', () => {
    expect(
      Object.keys(
        conflictSet(schema, [{ id: 'a', name: 'n', createdAt: new Date(), updatedAt: new Date() }]),
      ),
    ).toEqual(['name', 'updatedAt']);
    expect(Object.keys(conflictSet(schema, [{ id: 'a' }]))).toEqual(['id']);
  });
});

describe('transactions and errors', () => {
  it("detects 'batch' for neon-http (also behind withReplicas) and 'interactive' for node-postgres", async () => {
    const http = neonHttp({ client: neon('postgres://user@example.invalid/db') });
    expect(detectTransactionMode(http)).toBe('batch');
    expect(detectTransactionMode(withReplicas(http, [http]))).toBe('batch');
    const pool = new pg.Pool({ connectionString: 'postgres://user@127.0.0.1:1/none' });
    expect(detectTransactionMode(nodePg({ client: pool }))).toBe('interactive');
    await pool.end();
    const forced = thrown(() => new Transactions(nodePg({ client: new pg.Pool() }), 'batch'));
    expect(isStrataError(forced, 'INVALID_CONFIG')).toBe(true);
    expect(
      isStrataError(
        thrown(() => createDrizzleL3(http, { maxParameters: 1 })),
        'INVALID_CONFIG',
      ),
    ).toBe(true);
  });

  it("unwraps Drizzle's query error to the driver's, which has the SQLSTATE", () => {
    const cause = Object.assign(new Error('null value in column "a"'), { code: '23502' });
    const wrapped = new DrizzleQueryError('insert into "t" values ($1)', ['secret'], cause);
    expect(driverError(wrapped)).toBe(cause);
    expect(sqlStateOf(driverError(wrapped))).toBe('23502');
    const plain = new Error('boom');
    expect(driverError(plain)).toBe(plain);
    expect(sqlStateOf({ code: 'ECONNREFUSED' })).toBeUndefined();
  });
});
