import { and, eq, sql } from 'drizzle-orm';
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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../src/bytes.js';
import { isStrataError } from '../src/errors.js';
import type { Database } from '../src/l3/database.js';
import type { L3Tier, Row } from '../src/l3/types.js';
import { defineSchema } from '../src/schema/define-schema.js';

/** What the suite hands the factory. */
export interface L3FixtureContext {
  /** A Postgres schema no other run uses: the suite's tables live there. Drop it in `cleanup`. */
  schemaName: string;
  /**
   * Call for every statement the driver sends (Drizzle's `logger: { logQuery }`, or a wrapped client
   * where the logger misses batches), so the suite can count upsert chunks.
   */
  logQuery(query: string, params: unknown[]): void;
}

/** What a conformance run needs from an implementation. */
export interface L3Fixture {
  /** Keep `_strata_migrations` in `schemaName` (`migrationsSchema`), so parallel runs never share it. */
  l3: L3Tier;
  /** The same database, for checks against the catalog; those checks are skipped without it. */
  db?: Database;
  /** Drops `schemaName` (cascade) and closes what the factory opened. */
  cleanup(): Promise<void>;
}

const bytea = customType<{ data: Uint8Array; driverData: Uint8Array | string }>({
  dataType: () => 'bytea',
  toDriver: (value) => value,
  // Drivers give a Buffer (a Uint8Array subclass) or a Uint8Array: the row holds a plain copy.
  fromDriver: (value) =>
    typeof value === 'string'
      ? Uint8Array.from(value.slice(2).match(/../g) ?? [], (h) => Number.parseInt(h, 16))
      : new Uint8Array(value),
});

const MALICIOUS = `'); DROP TABLE "x"; -- \\' \\\\ "q" $$ $1 ü`;

const evolving1 = () => ({ id: text('id').primaryKey(), name: text('name') });
const evolving2 = () => ({
  ...evolving1(),
  note: text('note'),
  score: integer('score').notNull().default(0),
});
const evolving3 = () => ({ ...evolving2(), must: integer('must').notNull() });

function model(schemaName: string) {
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

const catalog = {
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

async function sha256Hex(text: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))));
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: unknown }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof Error)) throw new Error(`expected a rejection, got ${String(error)}`);
  return error;
}

const byId = (a: Row, b: Row): number => String(a.id).localeCompare(String(b.id));

/**
 * The L3 seam's conformance suite, written once and run against every driver.
 * @example
 * describeL3Conformance('node-postgres', async ({ schemaName, logQuery }) => {
 *   const pool = new pg.Pool({ connectionString: serviceUrls().databaseUrl });
 *   const db = drizzle({ client: pool, logger: { logQuery } });
 *   const drop = () => db.execute(sql`drop schema if exists ${sql.identifier(schemaName)} cascade`);
 *   return { l3: createDrizzleL3(db, { migrationsSchema: schemaName }), db, cleanup: async () => { await drop(); await pool.end(); } };
 * });
 */
export function describeL3Conformance(
  name: string,
  factory: (context: L3FixtureContext) => Promise<L3Fixture>,
): void {
  describe(`L3 conformance: ${name}`, () => {
    const random = crypto.getRandomValues(new Uint32Array(2));
    const schemaName = `strata_l3_${random[0]!.toString(36)}${random[1]!.toString(36)}`;
    const m = model(schemaName);
    const queries: string[] = [];
    let fixture: L3Fixture | undefined;
    const l3 = (): L3Tier => {
      if (!fixture) throw new Error('the L3 fixture did not start');
      return fixture.l3;
    };
    const main = [m.kinds, m.bulk, m.weird, m.events];

    const columnsOf = async (table: string) => {
      const rows = await fixture!
        .db!.select({ name: catalog.columns.columnName, nullable: catalog.columns.isNullable })
        .from(catalog.columns)
        .where(and(eq(catalog.columns.tableSchema, schemaName), eq(catalog.columns.tableName, table)));
      return Object.fromEntries(rows.map((r) => [r.name, r.nullable]));
    };
    const tableExists = async (table: string) => {
      const rows = await fixture!
        .db!.select({ name: catalog.tables.tableName })
        .from(catalog.tables)
        .where(and(eq(catalog.tables.tableSchema, schemaName), eq(catalog.tables.tableName, table)));
      return rows.length === 1;
    };

    beforeAll(async () => {
      fixture = await factory({ schemaName, logQuery: (query) => queries.push(query) });
    });
    afterAll(async () => {
      await fixture?.cleanup();
    });

    it('migrate creates the tables, their constraints and every index, and records it', async (ctx) => {
      const result = await l3().migrate(main);
      expect(result.records.map((r) => r.fileName)).toEqual(
        main.map((s) => `auto:${s.tableName}:${s.fingerprint}`),
      );
      expect(result.applied).toEqual(result.records.flatMap((r) => r.statements));
      expect(result.applied.filter((s) => s.startsWith('CREATE TABLE'))).toHaveLength(5); // + events_default
      if (!fixture?.db) return ctx.skip();
      const indexes = await fixture.db
        .select({
          table: catalog.indexes.tableName,
          name: catalog.indexes.indexName,
          def: catalog.indexes.indexDef,
        })
        .from(catalog.indexes)
        .where(eq(catalog.indexes.schemaName, schemaName));
      const kindsIndexes = indexes.filter((i) => i.table === 'kinds').map((i) => i.name);
      expect(kindsIndexes.sort()).toEqual(
        ['kinds_big_uq', 'kinds_count_index', 'kinds_flag_idx', 'kinds_label_unique', 'kinds_pkey'].sort(),
      );
      expect(indexes.find((i) => i.name === 'kinds_big_uq')?.def).toMatch(/^CREATE UNIQUE INDEX/);
      expect(Object.keys(await columnsOf('kinds')).sort()).toEqual(
        ['id', 'label', 'count', 'big', 'ratio', 'flag', 'at', 'data', 'doc', 'created_at'].sort(),
      );
      expect((await columnsOf('kinds')).created_at).toBe('NO');
      expect(await tableExists('events_default')).toBe(true);
      const partitioned = await fixture.db.execute(
        sql`select count(*)::int as n from pg_partitioned_table p join pg_class c on c.oid = p.partrelid
          join pg_namespace n on n.oid = c.relnamespace where n.nspname = ${schemaName} and c.relname = 'events'`,
      );
      expect(JSON.stringify(partitioned)).toContain('"n":1');
    });

    it('a second migrate applies nothing and records nothing', async () => {
      const before = await l3().migrationStatus();
      expect(await l3().migrate(main)).toEqual({ applied: [], records: [] });
      expect(await l3().migrationStatus()).toEqual(before);
    });

    it('adding columns to the definition adds only those columns (and their index)', async (ctx) => {
      await l3().migrate([m.evolving.v1]);
      await l3().upsertMany(m.evolving.v1, [{ id: 'e1', name: 'kept' }]);
      const v2 = m.evolving.v2;
      const result = await l3().migrate([v2]);
      expect(result.applied).toHaveLength(3);
      expect(result.applied[0]).toMatch(
        /^ALTER TABLE "[^"]+"\."evolving" ADD COLUMN IF NOT EXISTS "note" text$/,
      );
      expect(result.applied[1]).toMatch(/ADD COLUMN IF NOT EXISTS "score" integer NOT NULL DEFAULT 0$/);
      expect(result.applied[2]).toMatch(/^CREATE INDEX IF NOT EXISTS "evolving_score_idx" ON /);
      expect(result.records).toHaveLength(1);
      expect(result.records[0]).toMatchObject({
        schema: 'evolving',
        fileName: `auto:evolving:${v2.fingerprint}`,
      });
      expect(await l3().findMany(v2, ['e1'])).toEqual([{ id: 'e1', name: 'kept', note: null, score: 0 }]);
      expect(await l3().migrate([v2])).toEqual({ applied: [], records: [] });
      if (!fixture?.db) return ctx.skip();
      expect(await columnsOf('evolving')).toEqual({ id: 'NO', name: 'YES', note: 'YES', score: 'NO' });
    });

    it('refuses a NOT NULL column without default on a table with rows, and applies nothing', async (ctx) => {
      const before = await l3().migrationStatus();
      const error = await rejection(l3().migrate([m.race, m.evolving.v3]));
      expect(isStrataError(error, 'INVALID_MODEL')).toBe(true);
      expect(error.message).toMatch(/has rows.*NOT NULL.*must/);
      expect(await l3().migrationStatus()).toEqual(before);
      // On an empty table the same change is fine, and the column really is NOT NULL.
      await l3().migrate([m.fresh.v1]);
      expect((await l3().migrate([m.fresh.v2])).applied).toEqual([
        expect.stringMatching(/ADD COLUMN IF NOT EXISTS "must" integer NOT NULL$/),
      ]);
      if (!fixture?.db) return ctx.skip();
      expect(Object.keys(await columnsOf('evolving'))).not.toContain('must');
      expect(await tableExists('race')).toBe(false);
      expect((await columnsOf('fresh')).must).toBe('NO');
    });

    it('rejects partitioning by a column that is not the primary key, before any DDL', async (ctx) => {
      const error = await rejection(l3().migrate([m.badEvents]));
      expect(isStrataError(error, 'INVALID_MODEL')).toBe(true);
      expect(error.message).toMatch(/primary key.*partition column/);
      if (!fixture?.db) return ctx.skip();
      expect(await tableExists('bad_events')).toBe(false);
    });

    it('decides by introspection: a table made by hand with the same definition needs nothing', async (ctx) => {
      if (!fixture?.db) return ctx.skip();
      const target = sql`${sql.identifier(schemaName)}.${sql.identifier('handmade')}`;
      await fixture.db.execute(sql`create table ${target} ("id" text primary key, "n" integer)`);
      await fixture.db.execute(sql`create index "handmade_n_index" on ${target} ("n")`);
      expect(await l3().migrate([m.handmade])).toEqual({ applied: [], records: [] });
    });

    it('two migrations at once both succeed and record the change once', async () => {
      const results = await Promise.allSettled([l3().migrate([m.race]), l3().migrate([m.race])]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
      const records = (await l3().migrationStatus()).filter((r) => r.schema === 'race');
      expect(records).toHaveLength(1);
    });

    it('migrationStatus lists every record in id order with its checksum', async () => {
      const records = await l3().migrationStatus();
      expect(records.length).toBeGreaterThanOrEqual(main.length + 4);
      expect(records.map((r) => r.id)).toEqual([...records.map((r) => r.id)].sort((a, b) => a - b));
      for (const record of records) {
        expect(record.fileName).toMatch(/^auto:.+:[0-9a-z]+$/);
        expect(record.appliedAt).toBeInstanceOf(Date);
        expect(Date.now() - record.appliedAt.getTime()).toBeLessThan(10 * 60_000);
        expect(record.checksum).toBe(await sha256Hex(record.statements.join(';\n')));
      }
      expect(records.slice(0, 4).map((r) => r.schema)).toEqual(['kinds', 'bulk', 'weird', 'events']);
    });

    it('round-trips every column kind, and nulls, exactly', async () => {
      const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i);
      const created = new Date('2001-02-03T04:05:06.789Z');
      const full = {
        id: 'full',
        label: `ünïcødé "q" 'a' \\ 🎉`,
        count: -2147483648,
        big: 2n ** 63n - 1n,
        ratio: 0.1 + 0.2, // 0.30000000000000004: needs all 17 digits
        flag: true,
        at: new Date('2024-02-29T23:59:59.999Z'),
        data: allBytes,
        doc: { nested: { list: [1, 'två', null, { deep: '🎉' }], empty: {} }, 'k"y': 'v\\w', n: -0.5 },
        createdAt: created,
      };
      const edge = {
        ...full,
        id: 'edge',
        label: '',
        big: -(2n ** 63n),
        count: 2147483647,
        ratio: -Number.MAX_VALUE,
      };
      Object.assign(edge, { flag: false, at: new Date(1), data: new Uint8Array(0), doc: [] });
      const nulls = { id: 'nulls', label: null, count: null, big: null, ratio: null, flag: null, at: null };
      Object.assign(nulls, { data: null, doc: null });
      const stored = (await l3().upsertMany(m.kinds, [full, edge, nulls])).sort(byId);
      const now = Date.now();
      const nullsRow = stored.find((r) => r.id === 'nulls')!;
      expect(nullsRow.createdAt).toBeInstanceOf(Date);
      expect(Math.abs(now - (nullsRow.createdAt as Date).getTime())).toBeLessThan(60_000);
      const expected = [edge, full, { ...nulls, createdAt: nullsRow.createdAt }];
      expect(stored).toEqual(expected);
      const read = (await l3().findMany(m.kinds, ['nulls', 'full', 'edge', 'missing'])).sort(byId);
      expect(read).toEqual(expected);
      const back = read.find((r) => r.id === 'full')!;
      expect(typeof back.big).toBe('bigint');
      expect((back.at as Date).getTime()).toBe(full.at.getTime());
      expect(Object.getPrototypeOf(back.data)).toBe(Uint8Array.prototype);
      expect([...(back.data as Uint8Array)]).toEqual([...allBytes]);
    });

    it('upsert updates an existing row but keeps its autoNowAdd column', async () => {
      const first = new Date('2020-01-01T00:00:00.001Z');
      await l3().upsertMany(m.kinds, [{ id: 'upd', label: 'before', count: 1, createdAt: first }]);
      const [row] = await l3().upsertMany(m.kinds, [
        { id: 'upd', label: 'after', count: 2, createdAt: new Date('2030-01-01T00:00:00Z') },
      ]);
      expect(row).toMatchObject({ id: 'upd', label: 'after', count: 2, createdAt: first });
      expect(await l3().findMany(m.kinds, ['upd'])).toEqual([row]);
      // One statement may not touch a row twice: the last write for a key wins.
      const dup = await l3().upsertMany(m.kinds, [
        { id: 'dup', count: 1 },
        { id: 'dup', count: 2 },
      ]);
      expect(dup.map((r) => r.count)).toEqual([2]);
    });

    it('upserts 20,000 rows in chunks under the parameter limit, in one transaction', {
      timeout: 120_000,
    }, async () => {
      const rows = Array.from({ length: 20_000 }, (_, i) => ({
        id: i,
        a: `a${i}`,
        b: i * 2,
        c: i / 3,
        d: i % 2 === 0,
      }));
      const target = `insert into "${schemaName}"."bulk"`;
      const before = queries.filter((q) => q.startsWith(target)).length;
      const stored = await l3().upsertMany(m.bulk, rows);
      const inserts = queries.filter((q) => q.startsWith(target)).length - before;
      // 5 columns: 13,106 rows (65,530 parameters) per statement.
      expect(inserts).toBe(Math.ceil(20_000 / Math.floor(65_534 / 5)));
      expect(inserts).toBe(2);
      expect(stored).toHaveLength(20_000);
      const read = await l3().findMany(
        m.bulk,
        rows.map((r) => r.id),
      );
      expect(read.sort((x, y) => Number(x.id) - Number(y.id))).toEqual(rows);
    });

    it('a failing chunk leaves no row of the batch, and the error keeps its SQLSTATE', {
      timeout: 120_000,
    }, async () => {
      const rows: Row[] = Array.from({ length: 20_000 }, (_, i) => ({ id: 20_000 + i, a: `n${i}`, b: -i }));
      rows[rows.length - 1] = { id: 39_999, a: null };
      const error = await rejection(l3().upsertMany(m.bulk, rows));
      expect(error.code).toBe('23502');
      expect(await l3().findMany(m.bulk, [20_000, 25_000, 39_998, 39_999])).toEqual([]);
      expect(await l3().exists(m.bulk, 19_999)).toBe(true);
    });

    it('scan pages through every row once in primary-key order', { timeout: 60_000 }, async () => {
      const seen: number[] = [];
      let after: unknown;
      for (let page = 0; page < 10; page++) {
        const rows = await l3().scan(m.bulk, { limit: 7_000, ...(after !== undefined && { after }) });
        if (rows.length === 0) break;
        seen.push(...rows.map((r) => Number(r.id)));
        after = rows.at(-1)?.id;
      }
      expect(seen).toHaveLength(20_000);
      expect(seen).toEqual(Array.from({ length: 20_000 }, (_, i) => i));
      expect(await l3().scan(m.bulk, { after: 19_990, limit: 3 })).toEqual([
        { id: 19_991, a: 'a19991', b: 39_982, c: 19_991 / 3, d: false },
        { id: 19_992, a: 'a19992', b: 39_984, c: 19_992 / 3, d: true },
        { id: 19_993, a: 'a19993', b: 39_986, c: 19_993 / 3, d: false },
      ]);
    });

    it('exists and deleteMany', async () => {
      expect(await l3().exists(m.bulk, 7)).toBe(true);
      expect(await l3().exists(m.bulk, -7)).toBe(false);
      expect(await l3().deleteMany(m.bulk, [7, 8, -7])).toBe(2);
      expect(await l3().exists(m.bulk, 7)).toBe(false);
      expect(await l3().deleteMany(m.bulk, [7])).toBe(0);
      expect(await l3().deleteMany(m.bulk, [])).toBe(0);
      expect(await l3().findMany(m.bulk, [])).toEqual([]);
    });

    it('quotes odd identifiers and escapes a malicious default', async () => {
      const [row] = await l3().upsertMany(m.weird, [{ id: `x"); drop table kinds; --` }]);
      expect(row).toEqual({
        id: `x"); drop table kinds; --`,
        value: MALICIOUS,
        meta: { "it's": 'back\\slash' },
        long: null,
      });
      expect(await l3().findMany(m.weird, [row!.id])).toEqual([row]);
      expect(await l3().exists(m.kinds, 'full')).toBe(true);
    });

    it('works on the partitioned table', async () => {
      const id = 2n ** 60n;
      await l3().upsertMany(m.events, [{ id, at: new Date('2024-01-01T00:00:00.000Z') }]);
      await l3().upsertMany(m.events, [{ id, at: new Date('2025-01-01T00:00:00.000Z') }]);
      expect(await l3().findMany(m.events, [id])).toEqual([{ id, at: new Date('2025-01-01T00:00:00.000Z') }]);
    });
  });
}
