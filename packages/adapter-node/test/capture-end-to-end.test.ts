import { defineSchema, Q } from '@strata/core';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStrata, type NodeStrata } from '../src/create-strata.js';

// Writes made with a plain pg client, outside Strata, reach both instances' L1 and the shared L2
// through the triggers, NOTIFY, the LISTEN-woken relay and the pub/sub bus. The relay's interval
// is an hour: only NOTIFY can wake it within a test's deadline.
const name = uniqueName('capture_e2e');
const { redisUrl, databaseUrl } = serviceUrls();
const table = pgSchema(name).table('items', {
  id: text('id').primaryKey(),
  n: integer('n').notNull(),
  grp: text('grp').notNull(),
});
// Absence is cached too (negativeTtl), so an outside INSERT must retire a cached "not found".
const items = defineSchema({ table, negativeTtl: '5m' });
const qualified = `"${name}"."items"`;
const DEADLINE_MS = 5_000;
const opened: NodeStrata[] = [];
let a: NodeStrata;
let b: NodeStrata;
let outside: pg.Client;

async function open(): Promise<NodeStrata> {
  const node = await createStrata({
    databaseUrl,
    redisUrl,
    schemas: [items],
    keyPrefix: name,
    migrationsSchema: name,
    handleSignals: false,
    capture: { relay: { interval: '1h' }, listen: true },
  });
  opened.push(node);
  return node;
}

/** Resolves with the ms from `since` until `served()` held on every poll of one round; fails at the deadline. */
async function servedWithin(what: string, since: number, served: () => Promise<boolean>): Promise<number> {
  for (;;) {
    if (await served()) return performance.now() - since;
    if (performance.now() - since > DEADLINE_MS)
      throw new Error(`${what}: not served within ${DEADLINE_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Runs `statement` in its own transaction; returns the moment its COMMIT was sent. */
async function writeOutside(statement: string): Promise<number> {
  await outside.query('begin');
  await outside.query(statement);
  const committedAt = performance.now();
  await outside.query('commit');
  return committedAt;
}

const both = async (check: (node: NodeStrata) => Promise<boolean>) => (await check(a)) && (await check(b));
const nOf = async (node: NodeStrata, id: string) => (await node.strata.find(items, id))?.n;

/**
 * Both instances read `id` until each holds it in L1 (L2 holds it after the first read). A fill can
 * be refused when a bus message of an earlier write lands while the read is out, hence the loop.
 */
async function cacheOnBoth(id: string, expected: number | null): Promise<void> {
  for (const node of [a, b]) {
    const since = performance.now();
    for (;;) {
      expect((await node.strata.find(items, id))?.n ?? null).toBe(expected);
      const held = node.strata.peek(items, id);
      if (held !== undefined) {
        expect(held?.n ?? null).toBe(expected);
        break;
      }
      if (performance.now() - since > DEADLINE_MS) throw new Error(`${id}: never held in L1`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }
}

/** Relay errors so far on each instance: the first wake-up of `a` ran before migrate made the log. */
const relayErrors = () => [a, b].map((node) => node.strata.stats().capture.relay?.errors ?? 0);
let errorsAtStart: number[];

beforeAll(async () => {
  outside = new pg.Client({ connectionString: databaseUrl });
  await outside.connect();
  await outside.query(`create schema if not exists "${name}"`);
  a = await open();
  await a.strata.migrate({ capture: true });
  b = await open();
  // Both relays have run once (the listener wakes them on connect); the cursor exists from here on.
  await a.strata.relayChanges();
  await b.strata.relayChanges();
  errorsAtStart = relayErrors();
}, 60_000);

afterAll(async () => {
  for (const node of opened) await node.shutdown();
  await outside?.query(`drop schema if exists "${name}" cascade`);
  await outside?.end();
  const redis = new Redis(redisUrl);
  const keys = await redis.keys(`${name}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

it('UPDATE, DELETE and an INSERT of a key cached as absent reach both instances', async () => {
  await a.strata.setMany(items, [
    { id: 'u1', n: 1, grp: 'x' },
    { id: 'd1', n: 1, grp: 'x' },
  ]);
  await cacheOnBoth('u1', 1);
  await cacheOnBoth('d1', 1);
  await cacheOnBoth('new1', null);

  let at = await writeOutside(`update ${qualified} set n = 2 where id = 'u1'`);
  await servedWithin('update', at, () => both(async (node) => (await nOf(node, 'u1')) === 2));

  at = await writeOutside(`delete from ${qualified} where id = 'd1'`);
  await servedWithin('delete', at, () =>
    both(async (node) => (await node.strata.find(items, 'd1')) === null),
  );

  at = await writeOutside(`insert into ${qualified} (id, n, grp) values ('new1', 7, 'x')`);
  await servedWithin('insert', at, () => both(async (node) => (await nOf(node, 'new1')) === 7));
  expect(relayErrors()).toEqual(errorsAtStart);
});

it('a multi-row UPDATE and a TRUNCATE reach both instances', async () => {
  const ids = ['m1', 'm2', 'm3'];
  await a.strata.setMany(
    items,
    ids.map((id) => ({ id, n: 1, grp: 'm' })),
  );
  for (const id of ids) await cacheOnBoth(id, 1);
  let at = await writeOutside(`update ${qualified} set n = n + 100 where grp = 'm'`);
  await servedWithin('multi-row update', at, () =>
    both(async (node) => (await Promise.all(ids.map((id) => nOf(node, id)))).every((n) => n === 101)),
  );

  for (const id of ids) await cacheOnBoth(id, 101);
  at = await writeOutside(`truncate ${qualified}`);
  await servedWithin('truncate', at, () =>
    both(async (node) =>
      (await Promise.all(ids.map((id) => node.strata.find(items, id)))).every((r) => r === null),
    ),
  );
});

it('an UPDATE retires a cached searchCached list on both instances', async () => {
  await a.strata.setMany(items, [
    { id: 's1', n: 1, grp: 's' },
    { id: 's2', n: 2, grp: 's' },
    { id: 's3', n: 3, grp: 'other' },
  ]);
  const query = Q().where('grp = $1', 's').orderBy('id').build();
  const ns = async (node: NodeStrata) => (await node.strata.searchCached(items, query)).map((r) => r.n);
  expect(await ns(a)).toEqual([1, 2]);
  expect(await ns(b)).toEqual([1, 2]);
  const at = await writeOutside(`update ${qualified} set grp = 's', n = 30 where id = 's3'`);
  await servedWithin('searchCached', at, () =>
    both(async (node) => JSON.stringify(await ns(node)) === JSON.stringify([1, 2, 30])),
  );
});

it('prints commit-to-served latency over 50 single-row UPDATEs (each under 2 s)', async () => {
  await a.strata.set(items, { id: 'lat', n: 0, grp: 'x' });
  const spent: number[] = [];
  for (let i = 1; i <= 50; i++) {
    await cacheOnBoth('lat', i - 1);
    const at = await writeOutside(`update ${qualified} set n = ${i} where id = 'lat'`);
    spent.push(
      await servedWithin(`update ${i}`, at, () => both(async (node) => (await nOf(node, 'lat')) === i)),
    );
  }
  const sorted = [...spent].sort((x, y) => x - y);
  const pick = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  console.log(
    `capture end to end: commit to served on both instances over ${spent.length} updates: ` +
      `p50 ${pick(0.5).toFixed(1)} ms, p99 ${pick(0.99).toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms`,
  );
  expect(spent.every((ms) => ms < 2_000)).toBe(true);
  expect(relayErrors()).toEqual(errorsAtStart);
}, 120_000);
