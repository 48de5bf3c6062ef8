import { createIoredisL2, createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { type CompiledSchema, defineSchema, Q, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { strataRejection } from '@strata/core/testing';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, pgTable, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratchApp } from '../support/scratch-app.js';

// Two different tables must never share a `_strata_versions` row, a bus identity or an L2 base.
// Before: an unqualified table literally named `S.items` and table `items` of Postgres schema `S`
// had one identity (`S.items`): one instance refused them both (SCHEMA_DUPLICATE), two apps shared
// each row's version; and a schema whose `l2.keyPrefix` was spelled like another table's identity
// shared that table's base (counter, pending index) with nothing to refuse it. docs/semantics.md.

const cols = { id: text('id').primaryKey(), n: integer('n').notNull() };

describe('an l2.keyPrefix spelled like another table identity, one app keyPrefix, one database', () => {
  const scratch = scratchApp('idclaim');
  const { name, admin, db, raw } = scratch;
  const tables = {
    a: pgSchema(`${name}_a`).table('items', cols),
    b: pgSchema(`${name}_b`).table('items', cols),
  };
  scratch.migrate(tables.a, tables.b);
  const a = defineSchema({ name: 'items', table: tables.a, writeMode: 'write-behind' });
  // Short keys chosen by hand, the same text as table a's identity: the same base `{name}:{name}_a.items`.
  const b = defineSchema({
    name: 'items',
    table: tables.b,
    writeMode: 'write-behind',
    l2: { keyPrefix: a.identity },
  });
  const app = (schema: CompiledSchema) =>
    scratch.strata({ l3: createDrizzleL3(db, { migrationsSchema: `${name}_a` }), schemas: [schema] });

  it('the second table is refused L2 (write-behind refused), the first keeps its base, counter and rows', async () => {
    const first = app(a);
    await first.set(a, { id: 'k1', n: 1 });
    await first.set(a, { id: 'only-a', n: 7 });
    const counter = `${name}:${a.identity}:ver`;
    const before = await raw.get(counter);
    expect(before).not.toBeNull();

    const second = app(b);
    const refused = await strataRejection(second.set(b, { id: 'k1', n: 2 }));
    expect(refused.code).toBe('L2_UNAVAILABLE');
    expect(await raw.get(counter)).toBe(before);
    // Its reads come from its own table.
    expect(await second.search(b, Q().orderBy('id').build())).toEqual([]);
    expect(await first.getMany(a, ['k1', 'only-a'])).toEqual([
      { id: 'k1', n: 1 },
      { id: 'only-a', n: 7 },
    ]);
    await first.flushDirty();
    expect((await admin.query(`select id, n from "${name}_a".items order by id`)).rows).toEqual([
      { id: 'k1', n: 1 },
      { id: 'only-a', n: 7 },
    ]);
    expect((await admin.query(`select id, n from "${name}_b".items`)).rows).toEqual([]);
  });
});

describe('an unqualified table named "S.items" beside table items of Postgres schema S', () => {
  const { databaseUrl, redisUrl } = serviceUrls();
  const stem = uniqueName('identity_dots');
  const qualifiedSchema = `${stem}_q`;
  // The unqualified table lives in the search_path schema of this run, never in `public`.
  const pool = new pg.Pool({ connectionString: databaseUrl, options: `-c search_path=${stem}`, max: 4 });
  pool.on('error', () => {});
  const db = drizzle({ client: pool });
  const dotted = defineSchema({ name: 'dotted', table: pgTable(`${qualifiedSchema}.items`, cols) });
  const qualified = defineSchema({
    name: 'qualified',
    table: pgSchema(qualifiedSchema).table('items', cols),
  });
  const raw = new Redis(redisUrl, { lazyConnect: true });
  const opened: Strata[] = [];
  const open = (keyPrefix: string, schemas: CompiledSchema[]) => {
    const strata = new Strata({
      l2: createIoredisL2(redisUrl),
      l3: createDrizzleL3(db, { migrationsSchema: stem }),
      keyPrefix,
      schemas,
      coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: `${stem}:invalidate` }) },
    });
    opened.push(strata);
    return strata;
  };
  const versions = async () =>
    (await pool.query(`select "schema", id, version from "${stem}"._strata_versions order by "schema", id`))
      .rows;

  beforeAll(async () => {
    await raw.connect();
    await pool.query(`create schema "${stem}"; create schema "${qualifiedSchema}"`);
    await pool.query(`create table "${qualifiedSchema}.items" (id text primary key, n integer not null)`);
    await pool.query(`create table "${qualifiedSchema}".items (id text primary key, n integer not null)`);
  });
  afterAll(async () => {
    await Promise.allSettled(opened.map((s) => s.close()));
    await pool.query(
      `drop schema if exists "${stem}" cascade; drop schema if exists "${qualifiedSchema}" cascade`,
    );
    await pool.end();
    const keys = await raw.keys(`${stem}*`);
    if (keys.length > 0) await raw.del(...keys);
    raw.disconnect();
  });

  it('two apps (one table each) keep their own version rows', async () => {
    await open(`${stem}_1`, [dotted]).set(dotted, { id: 'k1', n: 1 });
    await open(`${stem}_2`, [qualified]).set(qualified, { id: 'k1', n: 2 });
    expect(await versions()).toEqual([
      { schema: dotted.identity, id: 'k1', version: expect.anything() },
      { schema: `${qualifiedSchema}.items`, id: 'k1', version: expect.anything() },
    ]);
  });

  it('one app takes both tables; its bus messages name each apart', async () => {
    const heard: string[] = [];
    const listener = new Redis(redisUrl);
    const twoHeard = new Promise<void>((resolve) => {
      listener.on('message', (_channel: string, message: string) => {
        heard.push(String((JSON.parse(message) as { schema: string }).schema));
        if (heard.length === 2) resolve();
      });
    });
    await listener.subscribe(`${stem}:invalidate`);
    try {
      const both = open(`${stem}_3`, [dotted, qualified]);
      await both.set(dotted, { id: 'k2', n: 3 });
      await both.set(qualified, { id: 'k2', n: 4 });
      await twoHeard;
      expect(heard).toEqual([dotted.identity, `${qualifiedSchema}.items`]);
      expect(dotted.identity).not.toBe(qualified.identity);
      expect(await both.find(dotted, 'k2')).toEqual({ id: 'k2', n: 3 });
      expect(await both.find(qualified, 'k2')).toEqual({ id: 'k2', n: 4 });
    } finally {
      listener.disconnect();
    }
  });
});
