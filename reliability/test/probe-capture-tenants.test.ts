import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { changeRelay, defineSchema, Strata } from '@strata/core';
import { decodeEnvelope } from '@strata/core/driver';
import { changeCapture, createDrizzleL3 } from '@strata/core/drizzle';
import { dropScratchSchema } from '@strata/devstack/testing';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { scratchApp } from '../support/scratch-app.js';
import { searchPathDbs } from '../support/search-path-dbs.js';

// Change capture for tenants by search_path: two apps (two keyPrefixes) whose sessions resolve the
// unqualified `items` in their own Postgres schema, with Strata's tables (`_strata_versions`, the
// change log, the capture registries and functions) in ONE shared `migrationsSchema`. Outside writes
// go through plain SQL on a tenant's own schema. Each tenant's caches must follow its own outside
// writes and never the other's, in every tier; a setup capture cannot keep apart is refused with a
// typed error and installs nothing.
//
// BROKE → fixed (drizzle/capture/capture-place.ts): the capture function, the change log, the
// registries and the version rows are all named by the identity `items`, so the second tenant's
// install took over the first one's function (its write mode decided both tables' triggers) and
// registry row, and both tables' triggers logged into one stream both relays applied. Found, on the
// earlier code, with both installs succeeding:
// - A write-through, B write-behind installed last: A's outside write was logged unbumped at the
//   version A's cached copy held: A served the old row from L1, L2 and a fresh instance (Postgres 2,
//   caches 1) until the TTL;
// - A write-behind, B write-through installed last: an outside write on A's table bumped the version
//   A's queued write then compared with at its flush: the acknowledged write (n = 2) was dropped,
//   Postgres and every tier kept the outside 5;
// - a schema change of A's table (a rewrite to n * 10) was never logged: the registry named B's
//   table; A served 3 where Postgres held 30;
// - both write-through: A's relay applied B's Strata set and B's outside update of B's row (2
//   changes, 2 log rows), dropped A's cached copy of that key and read Postgres again for it;
// - B's remove kept B's triggers (A was still registered on `items`): B's outside writes went on
//   being logged (1 entry per statement) for A's relay.
// Now the second place is refused: install fails with INVALID_CONFIG naming the other table, while
// the function's triggers are on it, and `check()` and `remove()` handle an install left crossed by
// the earlier version. Giving each tenant its own migrationsSchema captures both.

const scratch = scratchApp('capten');
const { name, admin, raw, redisUrl } = scratch;
const shared = `${name}_meta`;
const tenants = { a: `${name}_ta`, b: `${name}_tb` } as const;
type Tenant = keyof typeof tenants;
const items = pgTable('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
const through = defineSchema({ name: 'items', table: items, l1: { ttl: '10m' }, l2: { ttl: '10m' } });
const behind = defineSchema({
  name: 'items',
  table: items,
  writeMode: 'write-behind',
  l1: { ttl: '10m' },
  l2: { ttl: '10m' },
});
type ItemsSchema = typeof through;

const dbs = searchPathDbs();
const tenantDb = (tenant: Tenant) => dbs.db(tenants[tenant]);
const keyPrefix = (tenant: Tenant) => `${name}${tenant}`;
/** Tenant `tenant`'s L3: Strata's tables in `shared`, or in the tenant's own schema with `ownMeta`. */
const l3Of = (tenant: Tenant, ownMeta = false) =>
  createDrizzleL3(tenantDb(tenant), {
    migrationsSchema: ownMeta ? undefined : shared,
    capture: changeCapture,
  });
/** An instance of tenant `tenant`'s app: capture on, its relay driven by hand. */
const app = (tenant: Tenant, schema: ItemsSchema = through, ownMeta = false) =>
  scratch.strata({
    keyPrefix: keyPrefix(tenant),
    l3: l3Of(tenant, ownMeta),
    schemas: [schema],
    capture: { relay: changeRelay({ interval: '1h' }) },
    coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: `${keyPrefix(tenant)}:bus` }) },
  });

/** An outside write: plain SQL on the tenant's own table. */
const outside = (tenant: Tenant, statement: string, values: unknown[] = []) =>
  admin.query(statement.replaceAll('items', `"${tenants[tenant]}".items`), values);
const inPg = async (tenant: Tenant, id: string) =>
  (await admin.query<{ n: number }>(`select n from "${tenants[tenant]}".items where id = $1`, [id])).rows[0]
    ?.n;
/** `n` of the row tenant's L2 holds for `id` (null: a marker or a "not found"; undefined: nothing). */
async function inL2(tenant: Tenant, id: string): Promise<number | null | undefined> {
  const keys = await raw.keys(`${keyPrefix(tenant)}:*:r:${id}`);
  const value = keys[0] ? await raw.get(keys[0]) : null;
  if (value === null) return undefined;
  const envelope = decodeEnvelope(value);
  if (envelope?.kind !== 'r') return null;
  return (JSON.parse(String(envelope.payload)) as { n: number }).n;
}
/** `n` as Postgres, the tenant's L2, the instance (its L1 first) and a fresh instance (L2, else L3) give it. */
async function tiers(tenant: Tenant, x: Strata, id: string, schema: ItemsSchema = through, ownMeta = false) {
  return {
    pg: await inPg(tenant, id),
    served: (await x.find(schema, id))?.n,
    l2: await inL2(tenant, id),
    fresh: (await app(tenant, schema, ownMeta).find(schema, id))?.n,
  };
}
const all = (n: number | undefined) => ({ pg: n, served: n, l2: n, fresh: n });
const logRows = async () =>
  Number((await admin.query(`select count(*)::int as c from "${shared}"._strata_changes`)).rows[0].c);

/** Drops what the previous test made: every tenant's and the shared schema, and the apps' keys. */
beforeEach(async () => {
  for (const schema of [shared, ...Object.values(tenants)]) {
    await dropScratchSchema(admin, schema);
    await admin.query(`create schema "${schema}"`);
  }
  const keys = await raw.keys(`${name}*`);
  if (keys.length > 0) await raw.del(...keys);
});
afterAll(async () => {
  await dbs.end();
  for (const schema of [shared, ...Object.values(tenants)]) await dropScratchSchema(admin, schema);
});

const refusedFor = (tenant: Tenant) => ({
  code: 'INVALID_CONFIG',
  details: { table: `${tenants[tenant]}.items` },
});
/** What A's capture is, in the catalog: its function's body, the tables with its triggers, the registries. */
async function captureState() {
  const { rows } = await admin.query(
    `select p.proname::text as fn, md5(p.prosrc) as body,
       (select array_agg(distinct c.relnamespace::regnamespace::text order by c.relnamespace::regnamespace::text)
          from pg_trigger t join pg_class c on c.oid = t.tgrelid where t.tgfoid = p.oid) as places
     from pg_proc p where p.pronamespace = $1::regnamespace and p.proname like '\\_strata\\_capture\\_%'`,
    [shared],
  );
  const registry = await admin.query(
    `select schema, target from "${shared}"._strata_capture_tables order by 1`,
  );
  const apps = await admin.query(`select schema, app from "${shared}"._strata_capture_apps order by 1, 2`);
  return { functions: rows, registry: registry.rows, apps: apps.rows };
}

/** A migrated and captured first, then B tries; both relays' cursors start after that. */
async function aThenB(schemaA: ItemsSchema, schemaB: ItemsSchema) {
  const a = app('a', schemaA);
  const b = app('b', schemaB);
  await a.migrate({ capture: true });
  const captured = await captureState();
  const installB = await b.migrate({ capture: true }).then(
    () => 'installed' as const,
    (e: unknown) => e,
  );
  for (const x of [a, b]) await x.relayChanges();
  return { a, b, installB, captured };
}

describe('two search_path tenants, one migrationsSchema: the second install is refused, the first one keeps capturing', () => {
  it('both write-through: A follows its own outside writes in every tier, never B’s, and pays nothing for B’s', async () => {
    const { a, b, installB, captured } = await aThenB(through, through);
    await a.set(through, { id: 'k', n: 1 });
    await b.set(through, { id: 'k', n: 10 });
    expect(await tiers('a', a, 'k')).toEqual(all(1));
    expect(await tiers('b', b, 'k')).toEqual(all(10));
    const logBefore = await logRows();
    await outside('b', 'update items set n = 11 where id = $1', ['k']);
    await b.set(through, { id: 'j', n: 12 });
    expect(await logRows(), "B's writes reach A's change log").toBe(logBefore);
    const [readsA, invalidatedA] = [a.stats().l3Reads, a.stats().capture.idsInvalidated];
    expect(await a.relayChanges()).toEqual({ status: 'applied', changes: 0, gap: false });
    expect(await tiers('a', a, 'k')).toEqual(all(1));
    expect(a.stats().capture.idsInvalidated - invalidatedA, "A's copies invalidated by B's writes").toBe(0);
    expect(a.stats().l3Reads - readsA, 'A read Postgres again').toBe(0);
    await outside('a', 'update items set n = 2 where id = $1', ['k']);
    expect(await a.relayChanges()).toEqual({ status: 'applied', changes: 1, gap: false });
    expect(await tiers('a', a, 'k')).toEqual(all(2));
    expect(a.stats().capture.idsInvalidated - invalidatedA).toBe(1);
    expect(await inPg('b', 'k')).toBe(11);
    expect(installB).toMatchObject(refusedFor('a'));
    expect(await captureState(), "B's attempt changed A's capture").toEqual(captured);
  });

  it('A write-through, B write-behind: A follows its own outside write (its cached copy is not kept)', async () => {
    const { a, installB, captured } = await aThenB(through, behind);
    await a.set(through, { id: 'k', n: 1 });
    expect(await tiers('a', a, 'k')).toEqual(all(1));
    await outside('a', 'update items set n = 2 where id = $1', ['k']);
    expect(await a.relayChanges()).toEqual({ status: 'applied', changes: 1, gap: false });
    expect(await tiers('a', a, 'k')).toEqual(all(2));
    expect(installB).toMatchObject(refusedFor('a'));
    expect(await captureState()).toEqual(captured);
  });

  it("A write-behind, B write-through: an outside write on A's table never costs A an acknowledged queued write", async () => {
    const { a, installB } = await aThenB(behind, through);
    await a.set(behind, { id: 'q', n: 1 });
    await a.flushDirty();
    await a.set(behind, { id: 'q', n: 2 }); // acknowledged, queued
    await outside('a', 'update items set n = 5 where id = $1', ['q']);
    await a.flushDirty(); // the queued write is newer than the outside one: it lands
    await a.relayChanges();
    expect(await tiers('a', a, 'q', behind)).toEqual(all(2));
    expect(installB).toMatchObject(refusedFor('a'));
  });

  it("a schema change of A's table reaches A's caches after B's attempt", async () => {
    const { a, installB } = await aThenB(through, through);
    await a.set(through, { id: 's', n: 3 });
    expect(await tiers('a', a, 's')).toEqual(all(3));
    await outside('a', 'alter table items alter column n type integer using n * 10');
    expect(await a.relayChanges()).toMatchObject({ status: 'applied', changes: 1 });
    expect(await tiers('a', a, 's')).toEqual(all(30));
    expect(installB).toMatchObject(refusedFor('a'));
  });

  it("B's remove (its app's, and the L3's of every app) ends nothing of A's; check() says which is captured", async () => {
    const { a, b, installB, captured } = await aThenB(through, through);
    expect(installB).toMatchObject(refusedFor('a'));
    expect((await a.capture.check()).map((c) => c.installed)).toEqual([true]);
    const [checkB] = await b.capture.check();
    expect(checkB?.installed).toBe(false);
    expect(checkB?.missing).toContain(
      `function ${String(captured.functions[0]?.fn)} captures ${tenants.a}.items too`,
    );
    await b.capture.remove();
    await l3Of('b').capture!.remove([through]);
    expect(await captureState()).toEqual(captured);
    expect((await a.capture.check()).map((c) => c.installed)).toEqual([true]);
    await a.set(through, { id: 'r', n: 1 });
    expect(await tiers('a', a, 'r')).toEqual(all(1));
    const before = await logRows();
    await outside('b', "insert into items (id, n) values ('r', 7)");
    expect(await logRows()).toBe(before);
    await outside('a', "update items set n = 2 where id = 'r'");
    expect(await logRows()).toBe(before + 1);
    expect(await a.relayChanges()).toEqual({ status: 'applied', changes: 1, gap: false });
    expect(await tiers('a', a, 'r')).toEqual(all(2));
    // And A's own remove still works, leaving no capture behind.
    await a.capture.remove();
    expect((await captureState()).functions).toEqual([]);
  });
  it('two tenants installing at once: one installs, the other is refused (the DDL lock orders them)', async () => {
    const [a, b] = [app('a'), app('b')];
    for (const x of [a, b]) await x.migrate();
    const outcomes = await Promise.allSettled([a.capture.install(), b.capture.install()]);
    const refused = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [{ i, reason: o.reason }] : []));
    expect(refused).toHaveLength(1);
    const winner: Tenant = refused[0]!.i === 0 ? 'b' : 'a';
    expect(refused[0]!.reason).toMatchObject(refusedFor(winner));
    expect((await captureState()).functions.map((f) => f.places)).toEqual([[tenants[winner]]]);
  });
});

describe('an install left crossed by an earlier version (both tables on one function)', () => {
  /** What the earlier version's install by B left: B's table's triggers on A's function, B registered. */
  async function crossed() {
    const { a, b } = await aThenB(through, through);
    const { rows } = await admin.query(
      `select tgfoid::regprocedure::text as fn from pg_trigger where tgrelid = $1::regclass and tgname = '_strata_capture_insert'`,
      [`"${tenants.a}".items`],
    );
    const fn = String(rows[0]?.fn);
    const target = `"${tenants.b}".items`;
    for (const [event, transition] of [
      ['insert', 'REFERENCING NEW TABLE AS "_strata_new"'],
      ['update', 'REFERENCING OLD TABLE AS "_strata_old" NEW TABLE AS "_strata_new"'],
      ['delete', 'REFERENCING OLD TABLE AS "_strata_old"'],
      ['truncate', ''],
    ] as const) {
      await admin.query(
        `create trigger _strata_capture_${event} after ${event} on ${target} ${transition} for each statement execute function ${fn}`,
      );
    }
    await admin.query(`insert into "${shared}"._strata_capture_apps (schema, app) values ('items', $1)`, [
      keyPrefix('b'),
    ]);
    return { a, b, fn: fn.replace(/^.*\./, '').replace('()', '') };
  }

  it('check() reports it on both tenants; a re-install by either is refused', async () => {
    const { a, b, fn } = await crossed();
    for (const [x, other] of [
      [a, 'b'],
      [b, 'a'],
    ] as const) {
      const [check] = await x.capture.check();
      expect(check?.installed).toBe(false);
      expect(check?.missing).toContain(`function ${fn} captures ${tenants[other]}.items too`);
      await expect(x.capture.install()).rejects.toMatchObject(refusedFor(other));
    }
  });

  it.each(['app', 'l3'] as const)(
    "B's remove (%s) ends B's capture only; A's, installed again, follows A's writes alone",
    async (how) => {
      const { a, b } = await crossed();
      if (how === 'app') await b.capture.remove();
      else await l3Of('b').capture!.remove([through]);
      const before = await logRows();
      await outside('b', "insert into items (id, n) values ('x', 1)");
      expect(await logRows(), "B's outside write still logged").toBe(before);
      await a.capture.install();
      expect((await a.capture.check()).map((c) => c.installed)).toEqual([true]);
      await a.relayChanges();
      await a.set(through, { id: 'x', n: 1 });
      expect(await tiers('a', a, 'x')).toEqual(all(1));
      await outside('a', "update items set n = 2 where id = 'x'");
      expect(await a.relayChanges()).toEqual({ status: 'applied', changes: 1, gap: false });
      expect(await tiers('a', a, 'x')).toEqual(all(2));
      // The L3's remove leaves every registration (docs/change-capture.md): B's goes with its app's.
      if (how === 'l3') await b.capture.remove();
      await a.capture.remove();
      expect((await captureState()).functions).toEqual([]);
    },
  );
});

describe('the remedy: each tenant its own migrationsSchema', () => {
  it('both capture; each relay applies its own tenant alone, in every tier', async () => {
    const a = app('a');
    const b = app('b', through, true);
    await a.migrate({ capture: true });
    await b.migrate({ capture: true });
    for (const x of [a, b]) await x.relayChanges();
    await a.set(through, { id: 'k', n: 1 });
    await b.set(through, { id: 'k', n: 10 });
    await outside('b', "update items set n = 11 where id = 'k'");
    expect(await a.relayChanges()).toEqual({ status: 'applied', changes: 0, gap: false });
    expect(await b.relayChanges()).toEqual({ status: 'applied', changes: 1, gap: false });
    expect(await tiers('a', a, 'k')).toEqual(all(1));
    expect(await tiers('b', b, 'k', through, true)).toEqual(all(11));
    await outside('a', "update items set n = 2 where id = 'k'");
    expect(await b.relayChanges()).toEqual({ status: 'applied', changes: 0, gap: false });
    expect(await a.relayChanges()).toEqual({ status: 'applied', changes: 1, gap: false });
    expect(await tiers('a', a, 'k')).toEqual(all(2));
    expect(await tiers('b', b, 'k', through, true)).toEqual(all(11));
  });
});

describe('migrations of two search_path tenants in one migrationsSchema', () => {
  const withNote = defineSchema({
    name: 'items',
    table: pgTable('items', { id: text('id').primaryKey(), n: integer('n').notNull(), note: text('note') }),
  });
  const columns = async (tenant: Tenant) =>
    (
      await admin.query<{ c: string }>(
        `select column_name as c from information_schema.columns where table_schema = $1 and table_name = 'items' order by ordinal_position`,
        [tenants[tenant]],
      )
    ).rows.map((r) => r.c);

  it("each tenant's migrate() makes and alters its own table, whatever the other's did", async () => {
    const migrate = (tenant: Tenant, schema: ItemsSchema | typeof withNote) =>
      new Strata({
        l3: createDrizzleL3(tenantDb(tenant), { migrationsSchema: shared }),
        schemas: [schema],
      }).migrate();
    expect((await migrate('a', through)).applied).not.toEqual([]);
    expect((await migrate('b', through)).applied, "B's table made").not.toEqual([]);
    expect((await migrate('b', through)).applied).toEqual([]);
    expect((await migrate('a', withNote)).applied).toHaveLength(1);
    expect({ a: await columns('a'), b: await columns('b') }).toEqual({
      a: ['id', 'n', 'note'],
      b: ['id', 'n'],
    });
    expect((await migrate('b', withNote)).applied).toHaveLength(1);
    expect(await columns('b')).toEqual(['id', 'n', 'note']);
  });
});
