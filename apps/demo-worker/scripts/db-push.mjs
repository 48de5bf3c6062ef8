#!/usr/bin/env node
// npm run db:push — `drizzle-kit push` for the demo's schema file, made safe to run unattended.
//
// Why a wrapper: drizzle-kit 0.31 exits 0 even when it applied nothing. When a change is ambiguous
// (a column or table that may have been renamed) it wants an interactive prompt; without a TTY it
// prints "Error: Interactive prompts require a TTY terminal …" and still exits 0, even with --force
// (--force only answers the data-loss prompt, not the rename one). So this script decides success
// itself, in two independent checks:
//   1. drizzle-kit's own output must end in one of its two success lines, "[✓] Changes applied" or
//      "[i] No changes detected", and must carry no "Error" line.
//   2. Afterwards the catalog must hold what the schema file declares: every table and column
//      (information_schema.columns), every index (pg_indexes) and unique constraint (pg_constraint).
//      This catches whatever the output check misses, e.g. a future drizzle-kit wording.
// Either failing exits 1 with the reason. The statements drizzle-kit ran (--verbose lists them) are
// printed either way.
//
// Before it runs drizzle-kit, it asks drizzle-kit's own differ (`pushSchema` of drizzle-kit/api, the
// same filters as drizzle.config.ts) what the push would run, and refuses, changing nothing, when
// that is anything but creating: drizzle-kit makes the filtered schema equal to the file, so a table,
// column, index or constraint a user added in strata_demo would be dropped (an empty table without
// a prompt, one with rows under --force). Nothing we run drops or alters what it did not create.
//
// Env: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), read by drizzle.config.ts too.

import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pushSchema } from 'drizzle-kit/api';
import { drizzle } from 'drizzle-orm/node-postgres';
import { getTableConfig, PgTable } from 'drizzle-orm/pg-core';
import { build } from 'esbuild';
import pg from 'pg';

const appDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const require = createRequire(import.meta.url);

/** drizzle-kit's package exports no bin path; bin.cjs sits beside its main entry. */
const drizzleKitBin = join(dirname(require.resolve('drizzle-kit')), 'bin.cjs');

// Spinner frames redraw the line with ANSI escapes; strip them so the output can be matched by line.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching the ESC byte is the point.
const stripAnsi = (text) => text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');

function fail(message) {
  console.error(`db:push FAILED: ${message}`);
  process.exit(1);
}

function runDrizzleKit() {
  const run = spawnSync(
    process.execPath,
    [drizzleKitBin, 'push', '--force', '--verbose', '--config', 'drizzle.config.ts'],
    {
      cwd: appDir,
      // stdin ignored: nobody answers a prompt, so one must never be what decides the outcome.
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DATABASE_URL: databaseUrl },
      encoding: 'utf8',
    },
  );
  if (run.error) fail(`could not start drizzle-kit: ${run.error.message}`);
  const output = stripAnsi(`${run.stdout}${run.stderr}`);
  process.stdout.write(output);
  if (run.status !== 0) fail(`drizzle-kit push exited with ${run.status ?? run.signal}`);
  const lines = output.split(/\r?\n/).map((line) => line.trim());
  const error = lines.find((line) => /^Error\b/.test(line));
  if (error) {
    fail(
      `drizzle-kit push exited 0 but reported "${error}" and applied nothing. A rename (or another ` +
        'ambiguous change) needs its interactive prompt: run `npx drizzle-kit push` in a terminal, ' +
        'or apply the change with SQL first.',
    );
  }
  const applied = lines.includes('[✓] Changes applied');
  const unchanged = lines.includes('[i] No changes detected');
  if (!applied && !unchanged) {
    fail('drizzle-kit push printed neither "[✓] Changes applied" nor "[i] No changes detected"');
  }
  return applied ? 'applied' : 'unchanged';
}

/**
 * Loads src/db/schema.ts: Node 20 cannot import TypeScript, so esbuild compiles it (its own imports,
 * drizzle-orm, stay external) into node_modules/.cache, where Node resolves them as the app does.
 */
async function loadModule(entry) {
  const outfile = join(appDir, 'node_modules', '.cache', 'db-push', `module-${process.pid}.mjs`);
  mkdirSync(dirname(outfile), { recursive: true });
  await build({
    entryPoints: [join(appDir, entry)],
    outfile,
    bundle: true,
    packages: 'external',
    format: 'esm',
    platform: 'node',
    logLevel: 'error',
  });
  try {
    // A fresh URL per load: two builds share the file name, and Node caches a module by its URL.
    return await import(`${pathToFileURL(outfile).href}?${entry}`);
  } finally {
    rmSync(outfile, { force: true });
  }
}

/** The PgTables the schema file declares. */
function tablesOf(module) {
  return Object.values(module).filter((value) => value instanceof PgTable);
}

// What a push may run: creating (a schema, table, index, type, sequence) and adding a column or a
// constraint to a table. Anything else drops or alters something that is already there.
const CREATING = /^\s*(CREATE\b|ALTER TABLE \S+ ADD (COLUMN|CONSTRAINT)\b)/i;

/**
 * The statements drizzle-kit's differ would run (nothing is applied), with drizzle.config.ts's filters.
 * pushSchema draws the CLI's "Pulling schema" spinner: kept back, and printed only if it fails.
 */
async function plannedStatements(schemaModule) {
  const { default: config } = await loadModule('drizzle.config.ts');
  // A pool: the differ sends its catalog queries at once, which one pg.Client warns about.
  const pool = new pg.Pool({ connectionString: databaseUrl });
  const log = console.log;
  const write = process.stdout.write;
  const progress = [];
  console.log = (...args) => progress.push(args.join(' '));
  process.stdout.write = (chunk, ...rest) => {
    progress.push(String(chunk));
    const done = rest.find((arg) => typeof arg === 'function');
    if (done) done();
    return true;
  };
  try {
    const plan = await pushSchema(schemaModule, drizzle(pool), config.schemaFilter, config.tablesFilter);
    return plan.statementsToExecute;
  } catch (err) {
    process.stderr.write(`${stripAnsi(progress.join('\n'))}\n`);
    fail(`drizzle-kit could not diff the database against src/db/schema.ts: ${err?.message ?? err}`);
  } finally {
    console.log = log;
    process.stdout.write = write;
    await pool.end();
  }
}

/** What the catalog lacks of the schema file: one line per missing table, column, index or constraint. */
async function missingFromCatalog(tables) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const missing = [];
    for (const table of tables) {
      const config = getTableConfig(table);
      const schema = config.schema ?? 'public';
      const where = `${schema}.${config.name}`;
      const { rows: columns } = await client.query(
        'select column_name from information_schema.columns where table_schema = $1 and table_name = $2',
        [schema, config.name],
      );
      if (columns.length === 0) {
        missing.push(`table ${where}`);
        continue;
      }
      const present = new Set(columns.map((row) => row.column_name));
      for (const column of config.columns) {
        if (!present.has(column.name)) missing.push(`column ${where}.${column.name}`);
      }
      const { rows: indexes } = await client.query(
        'select indexname from pg_indexes where schemaname = $1 and tablename = $2',
        [schema, config.name],
      );
      const indexNames = new Set(indexes.map((row) => row.indexname));
      for (const index of config.indexes) {
        if (!indexNames.has(index.config.name)) missing.push(`index ${schema}.${index.config.name}`);
      }
      const { rows: constraints } = await client.query(
        `select c.conname from pg_constraint c
           join pg_class t on t.oid = c.conrelid join pg_namespace n on n.oid = t.relnamespace
          where n.nspname = $1 and t.relname = $2 and c.contype = 'u'`,
        [schema, config.name],
      );
      const constraintNames = new Set(constraints.map((row) => row.conname));
      const uniques = [
        ...config.columns.filter((c) => c.isUnique).map((c) => c.uniqueName),
        ...config.uniqueConstraints.map((u) => u.getName()),
      ];
      for (const name of uniques) {
        if (!constraintNames.has(name)) missing.push(`unique constraint ${where}.${name}`);
      }
    }
    return missing;
  } finally {
    await client.end();
  }
}

const schemaModule = await loadModule('src/db/schema.ts');
const refused = (await plannedStatements(schemaModule)).filter((statement) => !CREATING.test(statement));
if (refused.length > 0) {
  fail(
    `drizzle-kit push would drop or alter what the demo did not create, so nothing was run:\n  ${refused.join('\n  ')}\n` +
      'These objects are in the demo schema (strata_demo) but not in src/db/schema.ts. Move them to a ' +
      'schema of your own, or apply the change yourself (`npx drizzle-kit push` in apps/demo-worker asks ' +
      'before each), then run again.',
  );
}
const outcome = runDrizzleKit();
const tables = tablesOf(schemaModule);
const missing = await missingFromCatalog(tables);
if (missing.length > 0) {
  fail(`drizzle-kit push reported success, but the database lacks:\n  ${missing.join('\n  ')}`);
}
console.log(
  `db:push OK: ${outcome === 'applied' ? 'changes applied' : 'no changes needed'}; ` +
    `${tables.length} table(s) of src/db/schema.ts verified in the database.`,
);
