import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { defineSchema, Q, Strata } from '@strata/core';
import { type ManualClock, manualClock } from '@strata/core/driver';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { dropScratchSchema, serviceUrls, uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RedisProcess, startRedisProcess } from '../support/redis-process.js';

// Helper "hunt5": the app's tag clock (`{root}:tagclock`) and its tags (`{root}:tag:…`) are plain
// keys without TTL. An `allkeys-*` Redis evicts either alone, and a restore from an older snapshot
// on a running server (its keys written back: no reset is found when no Strata write came between)
// puts older values back. Each test loses them on a redis-server of the file's own, as an eviction
// or a restore would, after a row changed behind Strata's back (SQL) and `invalidateTags` of its
// tag was called: a new instance (a new Worker isolate: no bus, nothing known) must read the change.
// Found: each of these served the row from before the invalidation, from L2, until its TTL.

const { databaseUrl } = serviceUrls();
const name = uniqueName('t_tagloss');
const admin = new pg.Pool({ connectionString: databaseUrl, max: 2 });
admin.on('error', () => {});
const table = pgSchema(name).table('items', {
  id: text('id').primaryKey(),
  n: integer('n').notNull(),
  team: text('team').notNull(),
});
const schema = defineSchema({
  table,
  tags: (row: { team: string }) => [`team:${row.team}`],
  l1: { ttl: '10m' },
});
/** The table without row tags: its lists carry the query's tags (`Q().tags`) alone. */
const plain = defineSchema({ table, l1: { ttl: '10m' } });

let redis: RedisProcess;
let control: Redis;
const opened: Strata[] = [];
const clients: Redis[] = [];
const pools: pg.Pool[] = [];
let apps = 0;

beforeAll(async () => {
  redis = await startRedisProcess();
  control = new Redis(redis.url, { maxRetriesPerRequest: 0 });
  control.on('error', () => {});
  await admin.query(`create schema "${name}"`);
  await new Strata({
    l3: createDrizzleL3(drizzle({ client: admin }), { migrationsSchema: name }),
    schemas: [defineSchema({ table })],
  }).migrate();
});
afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((s) => s.close()));
  for (const c of clients.splice(0)) c.disconnect();
  await Promise.allSettled(pools.splice(0).map((p) => p.end()));
});
afterAll(async () => {
  control?.disconnect();
  await dropScratchSchema(admin, name);
  await admin.end();
  await redis?.close();
});

/** A new app (keyPrefix) on our Redis: `instance()` is one more instance of it, without a bus. */
function app(schemas: readonly (typeof schema | typeof plain)[] = [schema]) {
  apps += 1;
  const keyPrefix = `${name}-${apps}`;
  const instance = (clock?: ManualClock) => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    pool.on('error', () => {});
    pools.push(pool);
    const client = new Redis(redis.url, { maxRetriesPerRequest: 0 });
    client.on('error', () => {});
    clients.push(client);
    const strata = new Strata({
      l2: createIoredisL2(client),
      l3: createDrizzleL3(drizzle({ client: pool }), { migrationsSchema: name }),
      keyPrefix,
      ...(clock && { clock }),
      schemas: [...schemas],
    });
    opened.push(strata);
    return strata;
  };
  const id = (k: string) => `${apps}-${k}`;
  /** Changes a row behind Strata's back. */
  const sql = (k: string, n: number) =>
    admin.query(`update "${name}".items set n = $2 where id = $1`, [id(k), n]);
  const keys = (pattern: string) => control.keys(`${keyPrefix}:${pattern}`);
  /** Deletes exactly these keys, as an eviction would. */
  const evict = async (pattern: string) => {
    const found = await keys(pattern);
    if (found.length > 0) await control.del(...found);
    return found;
  };
  return { instance, id, sql, keys, evict };
}

describe('the tag clock and the tags lost or put back', () => {
  it('the tag clock evicted alone: a move of another tag is not missed', async () => {
    const { instance, id, sql, evict } = app();
    const a = instance();
    for (let i = 0; i < 3; i++) await a.invalidateTags(['team:red']); // the clock ahead of blue
    await a.set(schema, { id: id('y'), n: 1, team: 'blue' }); // cached in L2, stamped now
    expect((await instance().get(schema, id('y'))).n).toBe(1);
    expect(await evict('tagclock')).toHaveLength(1);
    await sql('y', 2);
    await a.invalidateTags(['team:blue']);
    expect((await instance().get(schema, id('y'))).n, 'a new instance after the invalidation').toBe(2);
  });

  it('a moved tag evicted alone: rows stamped before its move stay refused', async () => {
    const { instance, id, sql, evict } = app();
    const a = instance();
    await a.set(schema, { id: id('y'), n: 1, team: 'blue' });
    expect((await instance().get(schema, id('y'))).n).toBe(1); // cached in L2
    await sql('y', 2);
    await a.invalidateTags(['team:blue']);
    expect(await evict('tag:team:blue')).toHaveLength(1);
    expect((await instance().get(schema, id('y'))).n, 'a new instance after the invalidation').toBe(2);
  });

  it('the tag clock and the tags evicted: a new move does not repeat an old stamp', async () => {
    const { instance, id, sql, evict } = app();
    const a = instance();
    for (let i = 0; i < 3; i++) await a.invalidateTags(['team:red']);
    await a.set(schema, { id: id('y'), n: 1, team: 'blue' }); // cached in L2, stamped 3
    expect((await instance().get(schema, id('y'))).n).toBe(1);
    await evict('tag*');
    await sql('y', 2);
    await a.invalidateTags(['team:blue']);
    expect((await instance().get(schema, id('y'))).n, 'a new instance after the invalidation').toBe(2);
  });

  it('a restore of older tag values on a running Redis: a move after it does not repeat a stamp', async () => {
    const { instance, id, sql, keys } = app();
    const a = instance();
    await a.invalidateTags(['team:red']);
    // The snapshot: every key of the app, as it is now.
    const snapshot = new Map(
      await Promise.all((await keys('*')).map(async (k) => [k, await control.dumpBuffer(k)] as const)),
    );
    // A row added behind Strata's back: no Strata write between the snapshot and the restore, so
    // no write tick finds the restore.
    await admin.query(`insert into "${name}".items (id, n, team) values ($1, 1, 'blue')`, [id('z')]);
    await a.invalidateTags(['team:blue']); // a knows the clock's tick of this move
    const d = instance(manualClock(Date.now())); // its clock stands still: it trusts what it read
    expect(await d.find(schema, id('none'))).toBeNull(); // d knows the clock's tick too
    // The restore: the snapshot's keys written back, the others gone.
    for (const k of await keys('*')) if (!snapshot.has(k)) await control.del(k);
    for (const [k, dump] of snapshot) if (dump) await control.restore(k, 0, dump, 'REPLACE');
    expect((await d.get(schema, id('z'))).n).toBe(1); // from Postgres, into L2 under d's stamp
    await sql('z', 2);
    await a.invalidateTags(['team:blue']); // the tick after the restored clock: d's stamp
    expect((await instance().get(schema, id('z'))).n, 'a new instance after the second invalidation').toBe(2);
  });

  // A list's query tags (`Q().tags`) are compared by value, and an evicted tag read missing, the
  // value it had before its first move: a list stored before that move and not read since was
  // named again (`expected [ 1 ] to deeply equal [ 2 ]` once this asserted the fix). A tag read
  // missing is now put at the tag clock's value first (engine/list-tags.ts), above every value a
  // list read before the last move carries.
  it.each([
    ['the tag evicted alone', ['tag:team:blue']],
    ['the tag and the tag clock evicted', ['tag:team:blue', 'tagclock']],
  ])('a query tag lost after its move (%s): the list stored before it is not served', async (_, lost) => {
    const { instance, id, sql, evict } = app([plain]);
    const a = instance();
    await a.set(plain, { id: id('y'), n: 1, team: 'blue' });
    const blue = Q().where('id = $1', id('y')).tags('team:blue').build();
    expect((await instance().searchCached(plain, blue)).map((r) => r.n)).toEqual([1]); // stored
    await sql('y', 2);
    await a.invalidateTags(['team:blue']);
    for (const key of lost) expect(await evict(key)).toHaveLength(1);
    expect(
      (await instance().searchCached(plain, blue)).map((r) => r.n),
      'a new instance after the invalidation',
    ).toEqual([2]);
  });

  it('a query tag evicted without a move: put back at the unmoved clock, its list is still served', async () => {
    const { instance, id, keys, evict } = app([plain]);
    const a = instance();
    await a.set(plain, { id: id('w'), n: 1, team: 'blue' });
    const green = Q().where('id = $1', id('w')).tags('team:green').build();
    const b = instance();
    expect((await b.searchCached(plain, green)).map((r) => r.n)).toEqual([1]); // stored
    await b.settled();
    expect(await evict('tag:team:green')).toHaveLength(1);
    const hits = b.stats().hits.l2;
    expect((await b.searchCached(plain, green)).map((r) => r.n)).toEqual([1]);
    expect(b.stats().hits.l2, 'served from L2').toBe(hits + 1);
    expect(await keys('tag:team:green')).toHaveLength(1);
  });
});
