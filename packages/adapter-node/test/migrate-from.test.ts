import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { neon } from '@neondatabase/serverless';
import { isStrataError, type StrataError } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { serviceUrls, testDevstack, uniqueName } from '@strata/devstack/testing';
import { sql } from 'drizzle-orm';
import { drizzle as drizzleHttp } from 'drizzle-orm/neon-http';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { migrateFrom } from '../src/migrate-from.js';

const pool = new pg.Pool({ connectionString: serviceUrls().databaseUrl, max: 6 });
pool.on('error', () => {});
const db = drizzle({ client: pool });
const schemas: string[] = [];
const dirs: string[] = [];

afterAll(async () => {
  for (const name of schemas) await db.execute(sql.raw(`drop schema if exists "${name}" cascade`));
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  await pool.end();
});

/** A fresh Postgres schema (which also holds `_strata_migrations`) and an empty migrations directory. */
async function fixture(label: string) {
  const name = uniqueName(label);
  schemas.push(name);
  const dir = await mkdtemp(join(tmpdir(), `${name}-`));
  dirs.push(dir);
  const write = (file: string, text: string) => writeFile(join(dir, file), text);
  const records = () => createDrizzleL3(db, { migrationsSchema: name }).migrationStatus();
  const tables = async () => {
    const { rows } = await db.execute<{ table_name: string }>(
      sql`select table_name from information_schema.tables where table_schema = ${name} and table_name <> '_strata_migrations' order by table_name`,
    );
    return rows.map((r) => r.table_name);
  };
  return { name, dir, write, records, tables, run: () => migrateFrom(db, dir, { migrationsSchema: name }) };
}

async function failure(work: Promise<unknown>): Promise<Error> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof Error)) throw new Error('expected a rejection');
  return error;
}

it('applies the files in order, each recorded with its checksum; a re-run applies nothing; a new file applies alone', async () => {
  const f = await fixture('migfrom_apply');
  const texts = {
    '001_users.sql': `create table "${f.name}".users (id text primary key);\n`,
    '002_scores.sql': `create table "${f.name}".scores (id text primary key, n integer not null);\ncreate index on "${f.name}".scores (n);\n`,
    '003_seed.sql': `insert into "${f.name}".users values ('u1'), ('u2');\n`,
  };
  for (const [file, text] of Object.entries(texts)) await f.write(file, text);
  await f.write('README.md', 'not a migration');

  const first = await f.run();
  expect(first.applied.map((r) => r.fileName)).toEqual(Object.keys(texts));
  expect(first.skipped).toEqual([]);
  expect(await f.tables()).toEqual(['scores', 'users']);
  const recorded = await f.records();
  expect(recorded).toHaveLength(3);
  recorded.forEach((record, i) => {
    const [file, text] = Object.entries(texts)[i]!;
    expect(record).toMatchObject({ schema: null, fileName: file, statements: [text] });
    expect(record.checksum).toBe(createHash('sha256').update(text).digest('hex'));
    expect(record.appliedAt).toBeInstanceOf(Date);
  });

  const again = await f.run();
  expect(again).toEqual({ applied: [], skipped: Object.keys(texts) });
  expect(await f.records()).toHaveLength(3);

  await f.write('004_levels.sql', `alter table "${f.name}".users add column level integer default 1;`);
  const fourth = await f.run();
  expect(fourth.applied.map((r) => r.fileName)).toEqual(['004_levels.sql']);
  expect(fourth.skipped).toEqual(Object.keys(texts));
  const { rows } = await db.execute<{ level: number }>(sql.raw(`select level from "${f.name}".users`));
  expect(rows.map((r) => r.level)).toEqual([1, 1]);
  expect(await f.records()).toHaveLength(4);
});

it('refuses a changed applied file, naming it, and applies nothing (not even a new file)', async () => {
  const f = await fixture('migfrom_changed');
  await f.write('001_a.sql', `create table "${f.name}".a (id int primary key);`);
  await f.write('002_b.sql', `create table "${f.name}".b (id int primary key);`);
  await f.run();
  await f.write('002_b.sql', `create table "${f.name}".b (id bigint primary key);`);
  await f.write('003_c.sql', `create table "${f.name}".c (id int primary key);`);

  const error = await failure(f.run());
  expect(isStrataError(error, 'INVALID_CONFIG')).toBe(true);
  expect(error.message).toContain('002_b.sql was changed after it was applied');
  expect(await f.tables()).toEqual(['a', 'b']);
  expect((await f.records()).map((r) => r.fileName)).toEqual(['001_a.sql', '002_b.sql']);
});

it('rolls a failing file back and names it with its SQLSTATE; earlier files stay applied, later ones are not run', async () => {
  const f = await fixture('migfrom_syntax');
  await f.write('001_ok.sql', `create table "${f.name}".ok (id int primary key);`);
  await f.write(
    '002_broken.sql',
    `create table "${f.name}".half (id int primary key);\n-- the next statement is misspelt\ncreat table "${f.name}".other (id int);\n`,
  );
  await f.write('003_later.sql', `create table "${f.name}".later (id int primary key);`);

  const error = await failure(f.run());
  expect(isStrataError(error, 'TX_FAILED')).toBe(true);
  expect(error.message).toContain('002_broken.sql');
  expect(error.message).toContain('SQLSTATE 42601');
  expect(error.message).toContain('line 3');
  expect((error as { details?: unknown }).details).toMatchObject({
    file: '002_broken.sql',
    sqlstate: '42601',
    applied: ['001_ok.sql'],
    notApplied: ['002_broken.sql', '003_later.sql'],
  });
  // The file's first statement ran inside its transaction: rolled back with it.
  expect(await f.tables()).toEqual(['ok']);
  expect((await f.records()).map((r) => r.fileName)).toEqual(['001_ok.sql']);

  // Fixed, the run picks up where it stopped.
  await f.write('002_broken.sql', `create table "${f.name}".half (id int primary key);`);
  expect((await f.run()).applied.map((r) => r.fileName)).toEqual(['002_broken.sql', '003_later.sql']);
});

it('orders files by number, not by name (2 before 10)', async () => {
  const f = await fixture('migfrom_order');
  await f.write('10_add_column.sql', `alter table "${f.name}".t add column b int;`);
  await f.write('2_create.sql', `create table "${f.name}".t (a int primary key);`);
  await f.write('0003_insert.sql', `insert into "${f.name}".t (a) values (1);`);
  const result = await f.run();
  expect(result.applied.map((r) => r.fileName)).toEqual([
    '2_create.sql',
    '0003_insert.sql',
    '10_add_column.sql',
  ]);
  expect((await f.records()).map((r) => r.fileName)).toEqual([
    '2_create.sql',
    '0003_insert.sql',
    '10_add_column.sql',
  ]);
});

it('rejects misnamed and duplicate-numbered files before applying anything; ignores other files', async () => {
  const f = await fixture('migfrom_names');
  await f.write('001_ok.sql', `create table "${f.name}".ok (id int);`);
  await f.write('notes.txt', 'ignored');
  await f.write('.hidden.sql', 'ignored');
  await f.write('2-dash.sql', 'select 1');
  let error = await failure(f.run());
  expect(isStrataError(error, 'INVALID_CONFIG')).toBe(true);
  expect(error.message).toContain('2-dash.sql is misnamed');

  await rm(join(f.dir, '2-dash.sql'));
  await f.write('01_again.sql', 'select 1');
  error = await failure(f.run());
  expect(error.message).toContain('001_ok.sql and 01_again.sql share a number');
  expect(await f.tables()).toEqual([]);

  error = await failure(migrateFrom(db, join(f.dir, 'missing')));
  expect(error.message).toContain('cannot read the migrations directory');
  // A relative directory: the message names where it was looked for, why it failed, and what to do.
  error = await failure(migrateFrom(db, 'no-such-migrations'));
  expect(isStrataError(error, 'INVALID_CONFIG')).toBe(true);
  expect(error.message).toContain(
    `cannot read the migrations directory no-such-migrations (${join(process.cwd(), 'no-such-migrations')}): it does not exist. Create it with NNN_description.sql files`,
  );
  expect((error as StrataError).details).toEqual({
    dir: 'no-such-migrations',
    path: join(process.cwd(), 'no-such-migrations'),
  });
  expect((error.cause as { code?: string }).code).toBe('ENOENT');
});

it('serialises concurrent runs: every file is applied once', async () => {
  const f = await fixture('migfrom_concurrent');
  for (let i = 1; i <= 5; i++)
    await f.write(`00${i}_t${i}.sql`, `create table "${f.name}".t${i} (id int primary key);`);
  const results = await Promise.all([f.run(), f.run(), f.run()]);
  const applied = results.flatMap((r) => r.applied.map((record) => record.fileName)).sort();
  expect(applied).toEqual(['001_t1.sql', '002_t2.sql', '003_t3.sql', '004_t4.sql', '005_t5.sql']);
  for (const result of results) expect(result.applied.length + result.skipped.length).toBe(5);
  expect(await f.records()).toHaveLength(5);
});

it('refuses neon-http, which has no interactive transactions', async () => {
  const f = await fixture('migfrom_http');
  await f.write('001_a.sql', 'select 1');
  const http = drizzleHttp({ client: neon(testDevstack().neon.connectionString) });
  const error = await failure(migrateFrom(http, f.dir));
  expect(isStrataError(error, 'INVALID_CONFIG')).toBe(true);
  expect(error.message).toContain('interactive transactions');
});
