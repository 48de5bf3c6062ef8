import { execFile } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createDrizzleL3, createMemoryQueue, Strata } from '@strata/core';
import { createUpstashL2 } from '@strata/core/upstash';
import { testDevstack } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemas } from '../src/db/strata-schemas.js';

const appDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const adminUrl = process.env.STRATA_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
// A database of its own: drizzle-kit pushes into `public`, and the `test` database's `public` is
// shared with the other suites. Dropped in afterAll.
const database = `demo_push_${process.pid}_${Date.now().toString(36)}`;
const databaseUrl = (() => {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
})();

let admin: pg.Client;
let pool: pg.Pool;

interface PushRun {
  code: number;
  output: string;
}

/** `npm run db:push` as the script itself, against the throwaway database; never throws on exit 1. */
async function dbPush(): Promise<PushRun> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['scripts/db-push.mjs'], {
      cwd: appDir,
      env: { ...process.env, DATABASE_URL: databaseUrl },
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

async function query<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
  return (await pool.query<T>(text, values)).rows;
}

beforeAll(async () => {
  admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${database}"`);
  pool = new pg.Pool({ connectionString: databaseUrl });
  // An idle client's disconnect (the DROP below) must not kill the process.
  pool.on('error', () => {});
});

afterAll(async () => {
  await pool?.end();
  if (admin) {
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin.end();
  }
});

describe('npm run db:push (drizzle-kit push, checked)', () => {
  it('creates the tables, their indexes and the unique constraint', async () => {
    const run = await dbPush();
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain('[✓] Changes applied');
    expect(run.output).toContain('CREATE TABLE "players"');
    expect(run.output).toContain('db:push OK: changes applied');

    const columns = await query<{ table_name: string; column_name: string }>(
      `select table_name, column_name from information_schema.columns
        where table_schema = 'public' order by table_name, ordinal_position`,
    );
    expect(columns.map((c) => `${c.table_name}.${c.column_name}`)).toEqual([
      'players.id',
      'players.username',
      'players.level',
      'players.email',
      'players.created_at',
      'players.updated_at',
      'scores.id',
      'scores.player_id',
      'scores.points',
      'scores.created_at',
    ]);
    const indexes = await query<{ indexname: string }>(
      `select indexname from pg_indexes where schemaname = 'public' order by indexname`,
    );
    expect(indexes.map((i) => i.indexname)).toEqual([
      'players_pkey',
      'players_username_unique',
      'scores_pkey',
      'scores_player_id_idx',
      'scores_points_idx',
    ]);
  }, 60_000);

  it('a second push applies nothing and still succeeds', async () => {
    const run = await dbPush();
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain('[i] No changes detected');
    expect(run.output).not.toContain('Changes applied');
  }, 60_000);

  it("Strata's migrate() finds nothing to do on drizzle-kit's tables", async () => {
    const strata = new Strata({
      // The real L2 (the devstack's Upstash endpoint): write-behind schemas need one; migrate() doesn't use it.
      l2: createUpstashL2(testDevstack().upstash!),
      l3: createDrizzleL3(drizzle(pool)),
      queue: createMemoryQueue(),
      // Needed only because players.email is `encrypted`; migrate() encrypts nothing.
      encryptionKey: new Uint8Array(32).fill(7),
      schemas: [...schemas],
    });
    try {
      const result = await strata.migrate();
      expect(result.applied).toEqual([]);
      expect(result.records).toEqual([]);
    } finally {
      await strata.close();
    }
  }, 60_000);

  it('fails loudly when drizzle-kit wants a rename prompt (it exits 0 having applied nothing)', async () => {
    // The database now has user_name where the schema file says username: drizzle-kit cannot tell a
    // rename from a drop + add and asks, which it cannot do without a TTY.
    await query('ALTER TABLE players RENAME COLUMN username TO user_name');
    try {
      const run = await dbPush();
      expect(run.code, run.output).toBe(1);
      expect(run.output).toContain('Interactive prompts require a TTY');
      expect(run.output).toContain('db:push FAILED');
      // Nothing was applied: the column is still the renamed one.
      const columns = await query<{ column_name: string }>(
        `select column_name from information_schema.columns
          where table_schema = 'public' and table_name = 'players' and column_name like 'user%'`,
      );
      expect(columns.map((c) => c.column_name)).toEqual(['user_name']);
    } finally {
      await query('ALTER TABLE players RENAME COLUMN user_name TO username');
    }
  }, 60_000);
});
