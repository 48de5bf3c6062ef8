import { serviceUrls } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changeCapture, changeCaptureWith, createDrizzleL3 } from '../src/drizzle/index.js';
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
      { schema: players.identity, installed: true, missing: [], ddl: 'event-trigger' },
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
    // Cursors are snapshots (xmin:xmax:in-progress): this read's is not older than the one it read from.
    const xmin = (c: string) => BigInt(c.split(':')[0]!);
    expect(xmin(page.cursor) >= xmin(cursor)).toBe(true);
    const { rows } = await stack.pool.query(
      `select id, version::int as version from "${stack.name}"."_strata_versions" where id in ('n0', 'n2') order by id`,
    );
    expect(rows).toEqual([
      { id: 'n0', version: 3 },
      { id: 'n2', version: 1 },
    ]);
    // The event trigger went in with the batch: a schema change is logged as it commits.
    const at = await source.start();
    await stack.pool.query(`alter table "${stack.name}"."players" alter column notes type varchar(100)`);
    expect((await source.read(at)).changes).toContainEqual({
      schema: players.identity,
      op: 'ddl',
      ids: null,
      versions: null,
    });
  });

  it("refuses, typed, to install on a table whose function captures another table too (one batch's error)", async () => {
    // What an earlier version left for two tenants by search_path sharing migrationsSchema
    // (reliability/test/probe-capture-tenants.test.ts): another table's triggers on this function.
    const players = `"${stack.name}"."players"`;
    const { rows } = await stack.pool.query(
      `select tgfoid::regprocedure::text as fn from pg_trigger where tgrelid = $1::regclass and tgname = '_strata_capture_insert'`,
      [players],
    );
    await stack.pool.query(`create table "${stack.name}".elsewhere (id text primary key)`);
    await stack.pool.query(
      `create trigger _strata_capture_truncate after truncate on "${stack.name}".elsewhere for each statement execute function ${rows[0].fn}`,
    );
    await expect(strata.capture.install()).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      details: { table: `${stack.name}.elsewhere` },
    });
    const [check] = await strata.capture.check();
    expect(check?.missing).toEqual([
      `function ${rows[0].fn.replace(/^.*\./, '').replace('()', '')} captures ${stack.name}.elsewhere too`,
    ]);
    await stack.pool.query(`drop table "${stack.name}".elsewhere`);
    expect((await strata.capture.check())[0]?.installed).toBe(true);
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

  it('registers a table on the search path by its qualified name, which any session resolves', async () => {
    const plain = pgTable('plain', { id: text('id').primaryKey(), n: integer('n') });
    const l3 = createDrizzleL3(drizzle(pool), { capture: changeCaptureWith({ schemaCheckInterval: 0 }) });
    const strata = new Strata({ l3, schemas: [defineSchema({ table: plain })] });
    await strata.migrate({ capture: true });
    const { rows } = await stack.pool.query(`select target from "${stack.name}"."_strata_capture_tables"`);
    expect(rows).toContainEqual({ target: `${stack.name}.plain` }); // lower case: %I quotes none
    // Without the event trigger, the fingerprint check (on the L3's search path) finds a change.
    await stack.pool.query(`alter event trigger ${await eventTrigger()} disable`);
    expect(await strata.capture.check()).toEqual([
      { schema: 'plain', installed: true, missing: [], ddl: 'fingerprint' },
    ]);
    const source = l3.capture!.source();
    const cursor = await source.start();
    await stack.pool.query(`alter table "${stack.name}"."plain" alter column n type bigint`);
    expect((await source.read(cursor)).changes).toContainEqual({
      schema: 'plain',
      op: 'ddl',
      ids: null,
      versions: null,
    });
    await strata.close();
  });

  async function eventTrigger(): Promise<string> {
    const { rows } = await stack.pool.query(
      `select quote_ident(e.evtname) as name from pg_event_trigger e join pg_proc p on p.oid = e.evtfoid where p.pronamespace = $1::regnamespace`,
      [`"${stack.name}"`],
    );
    return rows[0].name as string;
  }
});
