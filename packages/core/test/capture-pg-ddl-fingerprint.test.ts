import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changeCaptureWith, createDrizzleL3 } from '../src/drizzle/index.js';
import { changeRelay, defineSchema, isStrataError, Q, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

// Schema changes when capture is installed by a role that may not create event triggers (an app's
// own role, not a superuser): the change source's fingerprint check finds them. The role is made
// here for the test (a unique name) and dropped at the end.
const admin = new pg.Pool({ connectionString: serviceUrls().databaseUrl, max: 1 });
admin.on('error', () => {});
const [may] = (
  await admin.query('select rolsuper or rolcreaterole as "may" from pg_roles where rolname = current_user')
).rows;
const canCreateRoles = may?.may === true;

let stack: EngineStack;
let role: string;
let rolePool: pg.Pool;
let strata: Strata;
let players: ReturnType<typeof defineSchema>;
/** An L3 over the role's connections whose source checks definitions every `interval`. */
const roleL3 = (interval: number | '1h') =>
  createDrizzleL3(drizzle(rolePool), {
    migrationsSchema: stack.name,
    capture: changeCaptureWith({ schemaCheckInterval: interval }),
  });

beforeAll(async () => {
  if (!canCreateRoles) return;
  stack = await engineStack('capture_ddl_fp');
  role = uniqueName('capture_ddl_role');
  await admin.query(`create role "${role}" login`);
  // Its own schema to create tables in, and the right to CREATE SCHEMA IF NOT EXISTS it.
  await admin.query(`create schema "${stack.name}" authorization "${role}"`);
  await admin.query(
    `grant create on database "${new URL(serviceUrls().databaseUrl).pathname.slice(1)}" to "${role}"`,
  );
  const url = new URL(serviceUrls().databaseUrl);
  url.username = role;
  url.password = '';
  rolePool = new pg.Pool({ connectionString: url.toString(), max: 3 });
  rolePool.on('error', () => {});
  players = defineSchema({ table: stack.tables.players });
  strata = new Strata({
    l2: stack.l2,
    l3: roleL3(0),
    keyPrefix: stack.keyPrefix,
    schemas: [players],
    capture: { relay: changeRelay({ interval: '1h' }) },
  });
  await strata.migrate({ capture: true });
  await strata.relayChanges(); // stores the cursor (a gap)
});
afterAll(async () => {
  await strata?.close();
  await rolePool?.end();
  await stack?.cleanup();
  if (role !== undefined) {
    await admin.query(`drop owned by "${role}"`);
    await admin.query(`drop role "${role}"`);
  }
  await admin.end();
});

const asRole = (text: string) => rolePool.query(text);
const table = (name: string) => `"${stack.name}"."${name}"`;
const ddlEntries = async () =>
  (await admin.query(`select count(*)::int as n from ${table('_strata_changes')} where op = 'ddl'`)).rows[0]
    .n as number;
const byId = (id: string) => Q().where('id = $1', id).build();

describe.skipIf(!canCreateRoles)('without the privilege to create an event trigger', () => {
  it('install goes on without one (nor its function); check reports the fingerprint path', async () => {
    const { rows } = await admin.query(
      `select to_regprocedure($1) is null as "none", (select rolsuper from pg_roles where rolname = $2) as "superuser"`,
      [`"${stack.name}"._strata_schema_changes()`, role],
    );
    expect(rows[0]).toEqual({ none: true, superuser: false });
    const expected = [{ schema: players.identity, installed: true, missing: [], ddl: 'fingerprint' }];
    expect(await strata.capture.check()).toEqual(expected);
    await strata.capture.install(); // idempotent
    expect(await strata.capture.check()).toEqual(expected);
  });

  it('ALTER COLUMN TYPE USING: the next read logs it once, and no cached row or search serves the old value', async () => {
    await strata.set(players, { id: 'f1', username: 'f1', level: 3, notes: 'quiet' });
    expect((await strata.get(players, 'f1')).notes).toBe('quiet');
    expect((await strata.searchCached(players, byId('f1'))).map((r) => r.notes)).toEqual(['quiet']);
    const before = await ddlEntries();
    await asRole(`alter table ${table('players')} alter column notes type varchar(200) using upper(notes)`);
    expect(await ddlEntries()).toBe(before); // no event trigger: nothing yet
    // Counted in the log: a transaction open anywhere on the server makes a read repeat entries.
    expect(await strata.relayChanges()).toMatchObject({ status: 'applied', gap: false });
    expect(await ddlEntries()).toBe(before + 1);
    expect((await strata.get(players, 'f1')).notes).toBe('QUIET');
    expect((await strata.searchCached(players, byId('f1'))).map((r) => r.notes)).toEqual(['QUIET']);
    // The fingerprint moved on with it: the next check logs nothing more.
    expect(await strata.relayChanges()).toMatchObject({ status: 'applied', gap: false });
    expect(await ddlEntries()).toBe(before + 1);
  });

  it('a rewrite that keeps every type is found too (the table was rewritten)', async () => {
    expect((await strata.get(players, 'f1')).level).toBe(3);
    const before = await ddlEntries();
    await asRole(`alter table ${table('players')} alter column level type integer using level * 10`);
    expect(await strata.relayChanges()).toMatchObject({ status: 'applied', gap: false });
    expect(await ddlEntries()).toBe(before + 1);
    expect((await strata.get(players, 'f1')).level).toBe(30);
  });

  it('a source checks at most once per interval', async () => {
    const source = roleL3('1h').capture!.source();
    const cursor = await source.start();
    const before = await ddlEntries();
    await source.read(cursor); // its first read checks: nothing moved
    expect(await ddlEntries()).toBe(before);
    await asRole(`alter table ${table('players')} alter column notes type text`);
    await source.read(cursor); // within the hour: not checked
    expect(await ddlEntries()).toBe(before);
    // This app's source checks on every read: it logs the change, and the other reads it from the log.
    await strata.relayChanges();
    expect(await ddlEntries()).toBe(before + 1);
    expect((await source.read(cursor)).changes).toContainEqual({
      schema: players.identity,
      op: 'ddl',
      ids: null,
      versions: null,
    });
  });

  it('refuses an interval that is not a duration', () => {
    const error = (() => {
      try {
        changeCaptureWith({ schemaCheckInterval: 'soon' as never });
      } catch (e) {
        return e;
      }
    })();
    expect(isStrataError(error, 'INVALID_CONFIG')).toBe(true);
  });
});
