/**
 * Strata's own tables beside a user's drizzle-kit: the real `drizzle-kit push`, run as a user runs it
 * (the drizzle.config.ts docs/migrations.md documents, non-interactively), against a database Strata has
 * migrated and written to. It must apply the user's change and leave `_strata_migrations` and
 * `_strata_versions` and their rows alone, also where `_strata_migrations` was made by an earlier
 * Strata with a `serial` id. Each scenario has a scratch database of its own (push diffs a whole schema).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createScratchDatabase, type ScratchDatabase } from '@strata/devstack';
import { uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createDrizzleL3 } from '../src/drizzle/index.js';
import { defineSchema, Strata } from '../src/index.js';

const migrationsDoc = fileURLToPath(new URL('../../../docs/migrations.md', import.meta.url));
const generated = fileURLToPath(new URL('./.generated/', import.meta.url));
/** drizzle-kit's package exports no bin path; bin.cjs sits beside its main entry (as db-push.mjs finds it). */
const drizzleKitBin = join(dirname(createRequire(import.meta.url).resolve('drizzle-kit')), 'bin.cjs');

/** The user's table as Strata first migrated it. */
const accounts = pgTable('kit_accounts', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
});

/** The user's schema file after their change: a new column, which push must add. */
const USER_SCHEMA_FILE = `import { integer, pgTable, text } from 'drizzle-orm/pg-core';

export const accounts = pgTable('kit_accounts', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  level: integer('level').notNull().default(1),
});
`;
// Kept in step with the file above: what the test reads back through Drizzle.
const accountsAfter = pgTable('kit_accounts', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  level: integer('level').notNull(),
});

function readmeDrizzleConfig(): string {
  const match = /```ts drizzle-config\n([\s\S]*?)```/.exec(readFileSync(migrationsDoc, 'utf8'));
  if (!match?.[1]) throw new Error('docs/migrations.md has no ```ts drizzle-config block');
  return match[1];
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function scratchDatabase(label: string): Promise<{ db: ScratchDatabase; pool: pg.Pool }> {
  const db = await createScratchDatabase(label);
  cleanups.push(() => db.drop());
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  pool.on('error', () => {});
  cleanups.push(() => pool.end());
  return { db, pool };
}

// Spinner frames redraw lines with ANSI escapes; without them the output matches line by line.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching the ESC byte is the point.
const stripAnsi = (text: string) => text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');

/** A user's project (docs/migrations.md's drizzle.config.ts, the schema file) and `drizzle-kit push` in it. */
async function drizzleKitPush(databaseUrl: string): Promise<{ code: number; lines: string[] }> {
  const project = join(generated, uniqueName('drizzle_kit'));
  mkdirSync(join(project, 'src/db'), { recursive: true });
  cleanups.push(() => rmSync(project, { recursive: true, force: true }));
  writeFileSync(join(project, 'drizzle.config.ts'), readmeDrizzleConfig());
  writeFileSync(join(project, 'src/db/schema.ts'), USER_SCHEMA_FILE);
  let code = 0;
  let output: string;
  try {
    // stdin closed: a prompt can never be answered, so it can never be what decides the outcome.
    const run = promisify(execFile)(process.execPath, [drizzleKitBin, 'push', '--force', '--verbose'], {
      cwd: project,
      env: { ...process.env, DATABASE_URL: databaseUrl },
    });
    run.child.stdin?.end();
    const { stdout, stderr } = await run;
    output = stdout + stderr;
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    code = failed.code ?? -1;
    output = `${failed.stdout ?? ''}${failed.stderr ?? ''}`;
  }
  return {
    code,
    lines: stripAnsi(output)
      .split(/\r?\n/)
      .map((line) => line.trim()),
  };
}

/** Strata migrates the user's table (creating its own two tables) and writes a row through them. */
async function strataMigratesAndWrites(pool: pg.Pool): Promise<void> {
  const schema = defineSchema({ table: accounts });
  const strata = new Strata({ l3: createDrizzleL3(drizzle(pool)), schemas: [schema] });
  try {
    expect((await strata.migrate()).records).toHaveLength(1);
    await strata.set(schema, { id: 'a1', name: 'Ada' });
  } finally {
    await strata.close();
  }
}

async function rows<T extends pg.QueryResultRow>(pool: pg.Pool, text: string): Promise<T[]> {
  return (await pool.query<T>(text)).rows;
}

/** What drizzle-kit must have left: Strata's records and versions, the user's row, no sequence. */
async function expectStrataIntact(pool: pg.Pool, migrationIds: number[]): Promise<void> {
  const records = await rows<{ id: number; file_name: string }>(
    pool,
    'select id, file_name from _strata_migrations order by id',
  );
  expect(records.map((r) => r.id)).toEqual(migrationIds);
  const versions = await rows<{ id: string; version: string }>(
    pool,
    `select id, version from _strata_versions where schema = 'kit_accounts'`,
  );
  expect(versions).toEqual([{ id: 'a1', version: expect.stringMatching(/^[1-9]\d*$/) }]);
  expect(await rows(pool, 'select sequencename from pg_sequences')).toEqual([]);
}

async function expectUserChangeApplied(pool: pg.Pool): Promise<void> {
  const db = drizzle(pool);
  expect(await db.select().from(accountsAfter)).toEqual([{ id: 'a1', name: 'Ada', level: 1 }]);
}

function expectPushSucceeded(run: { code: number; lines: string[] }): void {
  // Shown on failure; a driver stack trace in it would make vitest look for source maps of its frames.
  const output = run.lines.map((line) => line.replace(/^at /, '(at) ')).join('\n');
  expect(run.code, output).toBe(0);
  // drizzle-kit exits 0 even when it applied nothing: its own success line decides.
  expect(run.lines, output).toContain('[✓] Changes applied');
  expect(run.lines.filter((line) => /^Error\b/.test(line))).toEqual([]);
  expect(output).toContain('ALTER TABLE "kit_accounts" ADD COLUMN "level" integer DEFAULT 1 NOT NULL');
  expect(output).not.toMatch(/DROP (TABLE|SEQUENCE)/);
}

describe('drizzle-kit push with the drizzle.config.ts of docs/migrations.md, after Strata migrated and wrote', () => {
  it("applies the user's change and keeps Strata's tables and rows", async () => {
    const { db, pool } = await scratchDatabase('kit_fresh');
    await strataMigratesAndWrites(pool);

    expectPushSucceeded(await drizzleKitPush(db.url));
    await expectUserChangeApplied(pool);
    await expectStrataIntact(pool, [1]);
  }, 60_000);

  it('also on a database whose _strata_migrations an earlier Strata made with a serial id', async () => {
    const { db, pool } = await scratchDatabase('kit_legacy');
    // The table as Strata created it before: `id serial`, with one record numbered by its sequence.
    await pool.query(`CREATE TABLE "_strata_migrations" ("id" serial PRIMARY KEY NOT NULL, "schema" text,
      "file_name" text NOT NULL, "checksum" text NOT NULL,
      "applied_at" timestamp with time zone DEFAULT (now()), "statements" jsonb)`);
    await pool.query(`INSERT INTO "_strata_migrations" ("schema", "file_name", "checksum", "statements")
      VALUES (NULL, '001_init.sql', 'abc', '[]')`);
    expect(await rows(pool, 'select sequencename from pg_sequences')).toEqual([
      { sequencename: '_strata_migrations_id_seq' },
    ]);

    await strataMigratesAndWrites(pool);
    expectPushSucceeded(await drizzleKitPush(db.url));
    await expectUserChangeApplied(pool);
    await expectStrataIntact(pool, [1, 2]);
  }, 60_000);
});
