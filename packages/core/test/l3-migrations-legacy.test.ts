/**
 * `_strata_migrations` as an earlier Strata made it (`id serial`): migrate() keeps working on it,
 * numbers new records after the old ones, and drops the serial's sequence (drizzle-kit push would try
 * to, and fail) — whether or not it has anything to migrate, in a transaction (node-postgres) and in
 * a batch (neon-http). Each case in a Postgres schema of its own (`migrationsSchema`).
 */
import { neon, neonConfig } from '@neondatabase/serverless';
import { neonLocalConfig } from '@strata/devstack';
import { serviceUrls, testDevstack, uniqueName } from '@strata/devstack/testing';
import { drizzle as drizzleNeonHttp } from 'drizzle-orm/neon-http';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgSchema, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createDrizzleL3 } from '../src/drizzle/l3.js';
import { defineSchema } from '../src/schema/define-schema.js';

const pool = new pg.Pool({ connectionString: serviceUrls().databaseUrl, max: 2 });
pool.on('error', () => {});
const schemas: string[] = [];

afterAll(async () => {
  for (const name of schemas) await pool.query(`drop schema if exists "${name}" cascade`);
  await pool.end();
});

function database(driver: 'node-postgres' | 'neon-http') {
  if (driver === 'node-postgres') return drizzle(pool);
  Object.assign(neonConfig, neonLocalConfig(testDevstack().neon));
  return drizzleNeonHttp(neon(testDevstack().neon.connectionString));
}

/** A schema holding the legacy table with one record, and a user table already migrated. */
async function legacySchema(label: string): Promise<string> {
  const name = uniqueName(label);
  schemas.push(name);
  await pool.query(`create schema "${name}"`);
  await pool.query(`create table "${name}"."_strata_migrations" ("id" serial primary key not null,
    "schema" text, "file_name" text not null, "checksum" text not null,
    "applied_at" timestamp with time zone default (now()), "statements" jsonb)`);
  await pool.query(`insert into "${name}"."_strata_migrations" ("schema", "file_name", "checksum")
    values (null, '001_init.sql', 'abc')`);
  await pool.query(`create table "${name}"."present" ("id" text primary key not null)`);
  return name;
}

async function catalog(name: string) {
  const sequences = await pool.query('select sequencename from pg_sequences where schemaname = $1', [name]);
  const id = await pool.query(
    `select column_default from information_schema.columns
      where table_schema = $1 and table_name = '_strata_migrations' and column_name = 'id'`,
    [name],
  );
  const records = await pool.query(`select id, file_name from "${name}"."_strata_migrations" order by id`);
  return { sequences: sequences.rows, idDefault: id.rows[0]?.column_default, records: records.rows };
}

describe.each(['node-postgres', 'neon-http'] as const)(
  'migrate() on a legacy _strata_migrations (%s)',
  (driver) => {
    it('numbers a new record after the old ones and drops the sequence', async () => {
      const name = await legacySchema(`legacy_apply_${driver}`);
      const added = defineSchema({ table: pgSchema(name).table('added', { id: text('id').primaryKey() }) });
      const l3 = createDrizzleL3(database(driver), { migrationsSchema: name });

      const result = await l3.migrate([added]);
      expect(result.records.map((r) => r.id)).toEqual([2]);
      expect(await catalog(name)).toEqual({
        sequences: [],
        idDefault: null,
        records: [
          { id: 1, file_name: '001_init.sql' },
          { id: 2, file_name: result.records[0]!.fileName },
        ],
      });
      expect((await l3.migrationStatus()).map((r) => r.id)).toEqual([1, 2]);
    });

    it('drops the sequence also when there is nothing to migrate', async () => {
      const name = await legacySchema(`legacy_noop_${driver}`);
      const present = defineSchema({
        table: pgSchema(name).table('present', { id: text('id').primaryKey() }),
      });
      const l3 = createDrizzleL3(database(driver), { migrationsSchema: name });

      expect(await l3.migrate([present])).toEqual({ applied: [], records: [] });
      expect(await catalog(name)).toEqual({
        sequences: [],
        idDefault: null,
        records: [{ id: 1, file_name: '001_init.sql' }],
      });
    });

    it('a no-op migrate() whose migrationsSchema does not exist yet fails on nothing, creates nothing', async () => {
      const name = await legacySchema(`legacy_absent_${driver}`);
      const absent = uniqueName(`legacy_absent_ops_${driver}`);
      const present = defineSchema({
        table: pgSchema(name).table('present', { id: text('id').primaryKey() }),
      });
      const l3 = createDrizzleL3(database(driver), { migrationsSchema: absent });

      expect(await l3.migrate([present])).toEqual({ applied: [], records: [] });
      const found = await pool.query('select 1 from pg_namespace where nspname = $1', [absent]);
      expect(found.rows).toEqual([]);
    });
  },
);
