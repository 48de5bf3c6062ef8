import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { defineSchema, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { dropScratchSchema, lapseWriterClaims } from '@strata/devstack/testing';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { scratchApp } from '../support/scratch-app.js';
import { searchPathDbs } from '../support/search-path-dbs.js';
import { wrapL3 } from '../support/wrap-l3.js';

// Tenants by search_path on ONE keyPrefix, one Redis, one bus channel: each tenant's session
// resolves the unqualified `items` in its own Postgres schema, each has its own Strata tables
// (`migrationsSchema` its tenant schema). Whatever the search_path looks like, a tenant must read
// only its own rows and every acknowledged write must land in its own table: either both share
// the cache safely or the second is refused L2 (docs/semantics.md, "Tenants by search_path").

describe.each([
  // current_schema() differs: `#tenant` in the identity tells them apart.
  { paths: 'each tenant alone', first: false },
  // A schema both paths name first (as `public, tenant_x`): current_schema() is that one for both.
  { paths: 'a shared schema first, then the tenant', first: true },
])('two tenants on one keyPrefix, search_path: $paths', ({ first }) => {
  const scratch = scratchApp('tenantpath');
  const { name, admin, redisUrl } = scratch;
  const lead = `${name}_lead`;
  const tenants = { a: `${name}_ta`, b: `${name}_tb` } as const;
  type Tenant = keyof typeof tenants;
  const items = pgTable('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
  const through = defineSchema({ name: 'items', table: items });
  const behind = defineSchema({ name: 'items', table: items, writeMode: 'write-behind' });
  const byPrefix = (tenant: Tenant, mode: 'write-through' | 'write-behind') =>
    defineSchema({ name: 'items', table: items, writeMode: mode, l2: { keyPrefix: `items_${tenant}` } });
  const dbs = searchPathDbs();
  const tenantDb = (tenant: Tenant) => dbs.db(first ? `${lead},${tenants[tenant]}` : tenants[tenant]);
  const l3 = (tenant: Tenant) => createDrizzleL3(tenantDb(tenant), { migrationsSchema: tenants[tenant] });
  const app = (tenant: Tenant, schema: ReturnType<typeof defineSchema>) =>
    scratch.strata({
      keyPrefix: name,
      l3: l3(tenant),
      schemas: [schema],
      coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: `${name}:bus` }) },
    });
  const n = async (tenant: Tenant, id: string) =>
    (await admin.query<{ n: number }>(`select n from "${tenants[tenant]}".items where id = $1`, [id])).rows[0]
      ?.n;
  const outcome = (p: Promise<unknown>) =>
    p.then(
      () => 'acked' as const,
      (err: { code?: string }) => err.code ?? String(err),
    );

  beforeAll(async () => {
    await admin.query(`create schema "${lead}"`);
    for (const tenant of ['a', 'b'] as const) {
      await admin.query(`create schema "${tenants[tenant]}"`);
      // Made with the tenant's schema first (an unqualified CREATE goes to the first schema).
      const own = createDrizzleL3(dbs.db(tenants[tenant]), { migrationsSchema: tenants[tenant] });
      await new Strata({ l3: own, schemas: [through] }).migrate();
    }
  });
  // Each test is other apps (l2.keyPrefix): the claims of the last test's, closed by now, lapse.
  beforeEach(async () => {
    for (const schema of Object.values(tenants))
      await lapseWriterClaims(admin, schema, { redis: scratch.raw, keyPrefix: name });
  });
  afterAll(async () => {
    await dbs.end();
    for (const schema of [lead, ...Object.values(tenants)]) await dropScratchSchema(admin, schema);
  });

  it('both write-through: each reads only its own rows', async () => {
    const a = app('a', through);
    const b = app('b', through);
    await a.set(through, { id: 't1', n: 1 });
    expect((await a.find(through, 't1'))?.n).toBe(1);
    expect(await b.find(through, 't1'), "B reads A's row").toBeNull();
    await b.set(through, { id: 't2', n: 20 });
    expect(await a.find(through, 't2'), "A reads B's row").toBeNull();
    expect({ a1: await n('a', 't1'), b1: await n('b', 't1'), b2: await n('b', 't2') }).toEqual({
      a1: 1,
      b1: undefined,
      b2: 20,
    });
    // Fresh instances (cold L1) read through L2.
    expect(await app('b', through).find(through, 't1'), "a new B reads A's row").toBeNull();
    expect((await app('a', through).find(through, 't1'))?.n).toBe(1);
  });

  it('both write-behind on the shared stream: each acknowledged write lands in its own table', async () => {
    const a = app('a', behind);
    const b = app('b', behind);
    const wa = await outcome(a.set(behind, { id: 'w1', n: 1 }));
    const wb = await outcome(b.set(behind, { id: 'w2', n: 20 }));
    const wb2 = await outcome(b.set(behind, { id: 'w1', n: 21 }));
    await Promise.allSettled([a.flushDirty(), b.flushDirty()]);
    await Promise.allSettled([b.flushDirty(), a.flushDirty()]);
    expect(wa).toBe('acked');
    const expected = {
      a1: 1,
      a2: undefined,
      b1: wb2 === 'acked' ? 21 : undefined,
      b2: wb === 'acked' ? 20 : undefined,
    };
    expect({
      a1: await n('a', 'w1'),
      a2: await n('a', 'w2'),
      b1: await n('b', 'w1'),
      b2: await n('b', 'w2'),
    }).toEqual(expected);
    expect((await app('a', behind).find(behind, 'w1'))?.n).toBe(1);
    expect((await app('b', behind).find(behind, 'w1'))?.n ?? undefined).toBe(expected.b1);
  });

  it.each(['write-through', 'write-behind'] as const)(
    'an l2.keyPrefix per tenant, both %s: own rows and own writes only',
    async (mode) => {
      const sa = byPrefix('a', mode);
      const sb = byPrefix('b', mode);
      const a = app('a', sa);
      const b = app('b', sb);
      const wa = await outcome(a.set(sa, { id: 'p1', n: 1 }));
      const wb = await outcome(b.set(sb, { id: 'p1', n: 10 }));
      const wb2 = await outcome(b.set(sb, { id: 'p2', n: 20 }));
      await Promise.allSettled([a.flushDirty(), b.flushDirty()]);
      await Promise.allSettled([b.flushDirty(), a.flushDirty()]);
      expect(wa).toBe('acked');
      const expected = {
        a1: 1,
        a2: undefined,
        b1: wb === 'acked' ? 10 : undefined,
        b2: wb2 === 'acked' ? 20 : undefined,
      };
      expect({
        a1: await n('a', 'p1'),
        a2: await n('a', 'p2'),
        b1: await n('b', 'p1'),
        b2: await n('b', 'p2'),
      }).toEqual(expected);
      expect((await app('a', sa).find(sa, 'p1'))?.n).toBe(1);
      expect((await app('b', sb).find(sb, 'p1'))?.n ?? undefined).toBe(expected.b1);
    },
  );
});

describe('a second tenant on the keyPrefix whose Postgres names its database late (cold start)', () => {
  // The first generation read waits for the L3 identity at most 200 ms, then goes unchecked. What B
  // does in that window must neither reach A's readers nor A's table.
  const scratch = scratchApp('tenantlate');
  const { name, admin, redisUrl } = scratch;
  const tenants = { a: `${name}_ta`, b: `${name}_tb` } as const;
  type Tenant = keyof typeof tenants;
  const items = pgTable('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
  const through = defineSchema({ name: 'items', table: items });
  const behind = defineSchema({ name: 'items', table: items, writeMode: 'write-behind' });
  const dbs = searchPathDbs();
  const l3 = (tenant: Tenant) =>
    createDrizzleL3(dbs.db(tenants[tenant]), { migrationsSchema: tenants[tenant] });
  const slowIdentity = (tenant: Tenant) => {
    const base = l3(tenant);
    return wrapL3(base, {
      identity: () => new Promise<string>((r) => setTimeout(r, 1_000)).then(() => base.identity!()),
    });
  };
  const app = (tenant: Tenant, schema: ReturnType<typeof defineSchema>, slow = false) =>
    scratch.strata({
      keyPrefix: name,
      l3: slow ? slowIdentity(tenant) : l3(tenant),
      schemas: [schema],
      coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: `${name}:bus` }) },
    });
  const n = async (tenant: Tenant, id: string) =>
    (await admin.query<{ n: number }>(`select n from "${tenants[tenant]}".items where id = $1`, [id])).rows[0]
      ?.n;

  beforeAll(async () => {
    for (const tenant of ['a', 'b'] as const) {
      await admin.query(`create schema "${tenants[tenant]}"`);
      await new Strata({ l3: l3(tenant), schemas: [through] }).migrate();
    }
  });
  beforeEach(async () => {
    for (const schema of Object.values(tenants))
      await lapseWriterClaims(admin, schema, { redis: scratch.raw, keyPrefix: name });
  });
  afterAll(async () => {
    await dbs.end();
    for (const schema of Object.values(tenants)) await dropScratchSchema(admin, schema);
  });

  it.each([
    ['write-through', through],
    ['write-behind', behind],
  ] as const)('B %s in the window: A reads and holds only its own rows', async (_, schema) => {
    const a = app('a', schema);
    await a.set(schema, { id: 'k', n: 1 });
    await a.flushDirty();
    const b = app('b', schema, true);
    const wb = await b.set(schema, { id: 'k', n: 10 }).then(
      () => 'acked',
      (e: { code?: string }) => e.code,
    );
    const wb2 = await b.set(schema, { id: 'j', n: 20 }).then(
      () => 'acked',
      (e: { code?: string }) => e.code,
    );
    await Promise.allSettled([a.flushDirty(), b.flushDirty()]);
    await new Promise((r) => setTimeout(r, 1_200));
    await Promise.allSettled([b.flushDirty(), a.flushDirty()]);
    expect({ a: await n('a', 'k'), aj: await n('a', 'j') }).toEqual({ a: 1, aj: undefined });
    expect((await app('a', schema).find(schema, 'k'))?.n).toBe(1);
    expect(await app('a', schema).find(schema, 'j')).toBeNull();
    if (wb === 'acked') expect(await n('b', 'k')).toBe(10);
    if (wb2 === 'acked') expect(await n('b', 'j')).toBe(20);
  });

  it("B's read in the window fills nothing A reads", async () => {
    await admin.query(`insert into "${tenants.b}".items (id, n) values ('m', 30)`);
    const a = app('a', through);
    expect(await a.find(through, 'm')).toBeNull(); // A's generation read claims the keyPrefix
    const b = app('b', through, true);
    await b.find(through, 'm'); // a miss (or A's absence): read from B's Postgres, filled
    await b.close();
    expect(await app('a', through).find(through, 'm'), "A reads B's row").toBeNull();
  });
});

describe('a tenant refused L2 on the keyPrefix claims none of its tables there', () => {
  // BROKE → fixed (l2/scripts.ts GENERATION): B, refused by the keyPrefix claim, still took the
  // base claim of each table A had not used yet (and renewed it every 5 s for as long as it ran):
  // A was then refused L2 for that table, an hour past B's last read.
  const scratch = scratchApp('tenantbase');
  const { name, admin } = scratch;
  const tenants = { a: `${name}_ta`, b: `${name}_tb` } as const;
  type Tenant = keyof typeof tenants;
  const others = pgTable('others', { id: text('id').primaryKey(), n: integer('n').notNull() });
  const schema = defineSchema({ name: 'others', table: others });
  const dbs = searchPathDbs();
  const l3 = (tenant: Tenant) =>
    createDrizzleL3(dbs.db(tenants[tenant]), { migrationsSchema: tenants[tenant] });
  const app = (tenant: Tenant, schemas: ReturnType<typeof defineSchema>[]) =>
    scratch.strata({ keyPrefix: name, l3: l3(tenant), schemas });

  beforeAll(async () => {
    for (const tenant of ['a', 'b'] as const) {
      await admin.query(`create schema "${tenants[tenant]}"`);
      await new Strata({ l3: l3(tenant), schemas: [schema] }).migrate();
    }
  });
  afterAll(async () => {
    await dbs.end();
    for (const s of Object.values(tenants)) await dropScratchSchema(admin, s);
  });

  it('A caches a table B used first while refused', async () => {
    const first = pgTable('firsts', { id: text('id').primaryKey() });
    // A holds the keyPrefix (its generation read of `firsts`, a table it never writes here).
    const a0 = app('a', [defineSchema({ name: 'firsts', table: first, l3: false })]);
    await a0.find('firsts', 'x');
    const b = app('b', [schema]);
    await b.find(schema, 'o'); // refused L2 (another tenant's keyPrefix): from Postgres
    expect(b.stats().errorsBy.l2 ?? 0).toBeGreaterThan(0);
    const a = app('a', [schema]);
    await a.set(schema, { id: 'o', n: 1 });
    expect((await a.find(schema, 'o'))?.n).toBe(1);
    expect(a.stats().errorsBy.l2 ?? 0, 'A refused L2 for others').toBe(0);
  });
});
