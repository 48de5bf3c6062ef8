import { serviceUrls } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changeCapture, createDrizzleL3 } from '../src/drizzle/index.js';
import { defineSchema, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

// Capture over neon-http (no interactive transactions, no LISTEN), and over an L3 whose Strata
// tables are unqualified (found on its search path) while the external writer's search path differs.
describe('neon-http', () => {
  let stack: EngineStack;
  let strata: Strata;
  beforeAll(async () => {
    stack = await engineStack('capture_neon', 'neon-http');
  });
  afterAll(async () => {
    await strata?.close();
    await stack?.cleanup();
  });

  it('installs in one batch, reads external writes, and logs none of its own', async () => {
    const players = defineSchema({ table: stack.tables.players });
    strata = new Strata({ l3: stack.l3, schemas: [players] });
    await strata.migrate({ capture: true });
    expect(await strata.capture.check()).toEqual([
      { schema: players.identity, installed: true, missing: [] },
    ]);
    const source = stack.l3.capture!.source();
    const cursor = await source.start();
    await strata.set(players, { id: 'n0', username: 'n0' });
    await stack.pool.query(`insert into "${stack.name}"."players" (id, username) values ('n1', 'n1')`);
    await stack.pool.query(`update "${stack.name}"."players" set level = 3 where id in ('n0', 'n1')`);
    // A write of several statements: one db.batch, versions first, then rows.
    await strata.tx().set(players, { id: 'n2', username: 'n2' }).delete(players, 'n0').commit();
    const page = await source.read(cursor);
    expect(page.gap).toBe(false);
    expect(page.changes.filter((c) => c.ids?.some((id) => id.startsWith('n')))).toEqual([
      { schema: players.identity, op: 'insert', ids: ['n1'], versions: [1] },
      { schema: players.identity, op: 'update', ids: ['n0', 'n1'], versions: [2, 2] },
    ]);
    expect(BigInt(page.cursor) >= BigInt(cursor)).toBe(true);
    const { rows } = await stack.pool.query(
      `select id, version::int as version from "${stack.name}"."_strata_versions" where id in ('n0', 'n2') order by id`,
    );
    expect(rows).toEqual([
      { id: 'n0', version: 3 },
      { id: 'n2', version: 1 },
    ]);
  });
});

describe('Strata tables on the search path', () => {
  let stack: EngineStack;
  let pool: pg.Pool;
  beforeAll(async () => {
    stack = await engineStack('capture_path');
    // The first schema of a search path must exist for unqualified CREATE TABLE to land in it.
    await stack.pool.query(`create schema "${stack.name}"`);
    // The L3's connections find Strata's tables on their search path (no migrationsSchema).
    pool = new pg.Pool({
      connectionString: serviceUrls().databaseUrl,
      max: 2,
      options: `-c search_path="${stack.name}"`,
    });
  });
  afterAll(async () => {
    await pool?.end();
    await stack?.cleanup();
  });

  it('names them qualified in the triggers: a writer on another search path is still logged', async () => {
    const l3 = createDrizzleL3(drizzle(pool), { capture: changeCapture });
    const players = defineSchema({ table: stack.tables.players });
    const strata = new Strata({ l3, schemas: [players] });
    await strata.migrate({ capture: true });
    const source = l3.capture!.source();
    const cursor = await source.start();
    // stack.pool has the default search path: no "_strata_changes" on it.
    await stack.pool.query(`insert into "${stack.name}"."players" (id, username) values ('p1', 'p1')`);
    expect((await source.read(cursor)).changes).toContainEqual({
      schema: players.identity,
      op: 'insert',
      ids: ['p1'],
      versions: [1],
    });
    await strata.close();
  });
});
