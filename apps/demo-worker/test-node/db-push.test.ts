import { createMemoryQueue, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { createUpstashL2 } from '@strata/core/upstash';
import { createScratchDatabase, type ScratchDatabase } from '@strata/devstack';
import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PG_SCHEMA } from '../src/db/schema.js';
import { playerSchema, schemas } from '../src/db/strata-schemas.js';
import { dbPush } from './support/db-push.js';
import { FOREIGN_SNAPSHOT, publicSnapshot, putForeignTables } from './support/foreign-tables.js';

// A database of its own (the demo's schema name is fixed, and other suites push it too), holding
// another app's tables in `public` that no push may touch. Dropped in afterAll.
let scratch: ScratchDatabase;
let databaseUrl: string;
let pool: pg.Pool;
const keyPrefix = uniqueName('demo_push');

async function query<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
  return (await pool.query<T>(text, values)).rows;
}

beforeAll(async () => {
  scratch = await createScratchDatabase('demo_push');
  databaseUrl = scratch.url;
  pool = new pg.Pool({ connectionString: databaseUrl });
  // An idle client's disconnect (the DROP below) must not kill the process.
  pool.on('error', () => {});
  await putForeignTables(pool);
});

afterAll(async () => {
  await pool?.end();
  await scratch?.drop();
  const redis = new Redis(testDevstack().upstash!);
  const keys = await redis.keys(`${keyPrefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
});

/** The demo's Strata over the scratch database, as the Worker configures it (strataOptions). */
function demoStrata(): Strata {
  return new Strata({
    // The real L2 (the devstack's Upstash endpoint): write-behind schemas need one.
    l2: createUpstashL2(testDevstack().upstash!),
    l3: createDrizzleL3(drizzle(pool), { migrationsSchema: DEMO_PG_SCHEMA }),
    writeBehind: { queue: createMemoryQueue() },
    // Needed only because players.email is `encrypted`.
    encryptionKey: new Uint8Array(32).fill(7),
    keyPrefix,
    schemas: [...schemas],
  });
}

describe('npm run db:push (drizzle-kit push, checked)', () => {
  it('creates the tables, their indexes and the unique constraint', async () => {
    const run = await dbPush(databaseUrl);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain('[✓] Changes applied');
    expect(run.output).toContain('CREATE TABLE "strata_demo"."players"');
    expect(run.output).toContain('db:push OK: changes applied');

    const columns = await query<{ table_name: string; column_name: string }>(
      `select table_name, column_name from information_schema.columns
        where table_schema = 'strata_demo' order by table_name, ordinal_position`,
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
      `select indexname from pg_indexes where schemaname = 'strata_demo' order by indexname`,
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
    const run = await dbPush(databaseUrl);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain('[i] No changes detected');
    expect(run.output).not.toContain('Changes applied');
  }, 60_000);

  it("Strata's migrate() finds nothing to do on drizzle-kit's tables", async () => {
    const strata = demoStrata();
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
    await query('ALTER TABLE strata_demo.players RENAME COLUMN username TO user_name');
    try {
      const run = await dbPush(databaseUrl);
      expect(run.code, run.output).toBe(1);
      expect(run.output).toContain('Interactive prompts require a TTY');
      expect(run.output).toContain('db:push FAILED');
      // Nothing was applied: the column is still the renamed one.
      const columns = await query<{ column_name: string }>(
        `select column_name from information_schema.columns
          where table_schema = 'strata_demo' and table_name = 'players' and column_name like 'user%'`,
      );
      expect(columns.map((c) => c.column_name)).toEqual(['user_name']);
    } finally {
      await query('ALTER TABLE strata_demo.players RENAME COLUMN user_name TO username');
    }
  }, 60_000);

  it("keeps Strata's own tables and rows, which sit in the demo's schema", async () => {
    // Strata's bookkeeping beside the demo's tables: migrate() recreates the dropped table and
    // records it in _strata_migrations, a write records its version in _strata_versions and claims
    // the table in _strata_writers.
    await query('DROP TABLE strata_demo.scores');
    const strata = demoStrata();
    try {
      expect((await strata.migrate()).records).toHaveLength(1);
      await strata.set(playerSchema, { id: 'kept', username: 'kept_player' });
    } finally {
      await strata.close();
    }
    const run = await dbPush(databaseUrl);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/db:push OK/);
    expect(run.output).not.toMatch(/DROP (TABLE|SEQUENCE)/);
    const kept = await query<{ migrations: string; versions: string; writers: string }>(
      `select (select count(*) from strata_demo._strata_migrations) as migrations,
              (select count(*) from strata_demo._strata_versions where id = 'kept') as versions,
              (select count(*) from strata_demo._strata_writers where schema = 'strata_demo.players') as writers`,
    );
    expect(kept).toEqual([{ migrations: '1', versions: '1', writers: '1' }]);
  }, 60_000);

  it('refuses, changing nothing, when the push would drop or alter what the demo did not create', async () => {
    // A user's own tables and column in the demo's schema: drizzle-kit push makes the schema equal to
    // the file, so it drops them (an empty table without asking, one with rows under --force).
    await query('CREATE TABLE strata_demo.my_notes (id int PRIMARY KEY, body text)');
    await query("INSERT INTO strata_demo.my_notes VALUES (1, 'keep me')");
    await query('CREATE TABLE strata_demo.my_empty (id int)');
    await query('ALTER TABLE strata_demo.players ADD COLUMN nickname text');
    await query("UPDATE strata_demo.players SET nickname = 'nick'");
    try {
      const run = await dbPush(databaseUrl);
      expect(run.code, run.output).toBe(1);
      expect(run.output).toContain('db:push FAILED');
      expect(run.output).toContain('DROP TABLE "strata_demo"."my_notes"');
      expect(run.output).toContain('DROP TABLE "strata_demo"."my_empty"');
      expect(run.output).toContain('DROP COLUMN "nickname"');
      expect(run.output).not.toContain('Changes applied');
      const kept = await query<{ notes: string; empty: string; nicknames: string }>(
        `select (select count(*) from strata_demo.my_notes) as notes,
                (select count(*) from strata_demo.my_empty) as empty,
                (select count(*) from strata_demo.players where nickname = 'nick') as nicknames`,
      );
      expect(kept).toEqual([{ notes: '1', empty: '0', nicknames: '1' }]);
    } finally {
      await query('DROP TABLE IF EXISTS strata_demo.my_notes, strata_demo.my_empty');
      await query('ALTER TABLE strata_demo.players DROP COLUMN IF EXISTS nickname');
    }
    const again = await dbPush(databaseUrl);
    expect(again.code, again.output).toBe(0);
  }, 60_000);

  it("never touched another app's tables in public", async () => {
    expect(await publicSnapshot(pool)).toEqual(FOREIGN_SNAPSHOT);
  });
});
