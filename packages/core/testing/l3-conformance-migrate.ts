import { and, eq, sql } from 'drizzle-orm';
import { expect, it } from 'vitest';
import { toHex } from '../src/bytes.js';
import { isStrataError } from '../src/errors.js';
import { catalog, type Model } from './l3-conformance-model.js';
import { type L3Suite, rejection } from './l3-conformance-suite.js';

async function sha256Hex(text: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))));
}

/** migrate() and migrationStatus(): DDL from the schemas, decided by introspection, recorded. */
export function registerMigrationTests(suite: L3Suite, m: Model): void {
  const { schemaName } = suite;
  const l3 = () => suite.l3();
  const main = [m.kinds, m.bulk, m.weird, m.events];

  const columnsOf = async (table: string) => {
    const rows = await suite
      .db()!
      .select({ name: catalog.columns.columnName, nullable: catalog.columns.isNullable })
      .from(catalog.columns)
      .where(and(eq(catalog.columns.tableSchema, schemaName), eq(catalog.columns.tableName, table)));
    return Object.fromEntries(rows.map((r) => [r.name, r.nullable]));
  };
  const tableExists = async (table: string) => {
    const rows = await suite
      .db()!
      .select({ name: catalog.tables.tableName })
      .from(catalog.tables)
      .where(and(eq(catalog.tables.tableSchema, schemaName), eq(catalog.tables.tableName, table)));
    return rows.length === 1;
  };

  it('migrate creates the tables, their constraints and every index, and records it', async (ctx) => {
    const result = await l3().migrate(main);
    expect(result.records.map((r) => r.fileName)).toEqual(
      main.map((s) => `auto:${s.tableName}:${s.fingerprint}`),
    );
    expect(result.applied).toEqual(result.records.flatMap((r) => r.statements));
    expect(result.applied.filter((s) => s.startsWith('CREATE TABLE'))).toHaveLength(5); // + events_default
    const db = suite.db();
    if (!db) return ctx.skip();
    const indexes = await db
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
    const partitioned = await db.execute(
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
    await l3().write([{ schema: m.evolving.v1, writes: [{ row: { id: 'e1', name: 'kept' } }] }]);
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
    expect(await l3().findMany(v2, ['e1'])).toEqual([
      { row: { id: 'e1', name: 'kept', note: null, score: 0 }, version: 1 },
    ]);
    expect(await l3().migrate([v2])).toEqual({ applied: [], records: [] });
    const db = suite.db();
    if (!db) return ctx.skip();
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
    const db = suite.db();
    if (!db) return ctx.skip();
    expect(Object.keys(await columnsOf('evolving'))).not.toContain('must');
    expect(await tableExists('race')).toBe(false);
    expect((await columnsOf('fresh')).must).toBe('NO');
  });

  it('rejects partitioning by a column that is not the primary key, before any DDL', async (ctx) => {
    const error = await rejection(l3().migrate([m.badEvents]));
    expect(isStrataError(error, 'INVALID_MODEL')).toBe(true);
    expect(error.message).toMatch(/primary key.*partition column/);
    const db = suite.db();
    if (!db) return ctx.skip();
    expect(await tableExists('bad_events')).toBe(false);
  });

  it('decides by introspection: a table made by hand with the same definition needs nothing', async (ctx) => {
    const db = suite.db();
    if (!db) return ctx.skip();
    const target = sql`${sql.identifier(schemaName)}.${sql.identifier('handmade')}`;
    await db.execute(sql`create table ${target} ("id" text primary key, "n" integer)`);
    await db.execute(sql`create index "handmade_n_index" on ${target} ("n")`);
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
}
