/**
 * The change relay (`capture.relay`) of an app spread over 16 buckets on a real Redis Cluster (3
 * masters + 3 replicas): its lease, cursor and time in bucket 0's slot, a page of changes made
 * outside Strata (plain SQL) marked with one script per bucket touched, each in its bucket's slot,
 * the cursor stored only after every bucket took its markers; both instances (L1 and L2) and a
 * fresh one then read Postgres' rows. A shard that does not answer during a pass leaves the cursor
 * where it was, and the next pass applies the page again.
 */
import { defineSchema, isStrataError } from '@strata/core';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import type { Cluster } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, expect, it, onTestFinished } from 'vitest';
import type { NodeStrata } from '../src/create-strata.js';
import { hashSlot, masterFor } from '../src/redis-tcp/cluster-slots.js';
import { busiestMaster, clusterApp } from './support/cluster-app.js';
import { type SentScript, scriptsDuring, until } from './support/cluster-client.js';

const name = uniqueName('cl_relay_b16');
const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
const items = defineSchema({ table });
const BUCKETS = 16;
const qualified = `"${name}"."items"`;

// The relay runs when the test says (`relayChanges()`): its interval is an hour.
const app = clusterApp(name, { schemas: [items], buckets: BUCKETS, capture: { relay: { interval: '1h' } } });
const { clients } = app;
const state = (what: 'cursor' | 'lease' | 'at') => `{${name}#0}:changes:${what}`;

let a: NodeStrata;
let b: NodeStrata;
let admin: Cluster;
let outside: pg.Client;
let errorsAtStart: number;

beforeAll(async () => {
  outside = new pg.Client({ connectionString: serviceUrls().databaseUrl });
  await outside.connect();
  a = await app.open();
  await a.strata.migrate({ capture: true });
  b = await app.open();
  // The first pass finds no cursor (a gap: every cached row dropped) and stores one; then b's.
  // It moves 16 generations, each waiting for a replica (WAIT, 250 ms): on a loaded machine one
  // can miss that, the pass fails and keeps no cursor, and the next pass is the same gap (as the
  // relay does on its interval). Up to three passes; each failure is printed.
  let first = await a.strata.relayChanges();
  for (let pass = 2; first?.status === 'failed' && pass <= 3; pass++) {
    console.warn(`relay's first pass failed, pass ${pass} next:`, first.error);
    first = await a.strata.relayChanges();
  }
  expect(first).toEqual({ status: 'applied', changes: 0, gap: true });
  expect(await b.strata.relayChanges()).toEqual({ status: 'applied', changes: 0, gap: false });
  await Promise.all([a.strata.settled(), b.strata.settled()]);
  errorsAtStart = a.strata.stats().errors + b.strata.stats().errors;
  admin = clients.open();
  await admin.exists('connect'); // the client knows the masters once connected
}, 60_000);

afterAll(async () => {
  await outside?.end();
});

/** Each id's bucket, as the rows cached in L2 say (`{name#b}:…:r:<id>`), over every master. */
async function bucketsOfCachedRows(): Promise<Map<string, number>> {
  const of = new Map<string, number>();
  for (const master of admin.nodes('master')) {
    let cursor = '0';
    do {
      const [next, keys] = await master.scan(cursor, 'MATCH', `{${name}#*:r:*`, 'COUNT', 1_000);
      for (const key of keys) {
        const [, bucket, id] = /^\{[^#]+#(\d+)\}:.*:r:(.+)$/.exec(key)!;
        of.set(id!, Number(bucket));
      }
      cursor = next;
    } while (cursor !== '0');
  }
  return of;
}

/**
 * Caches `rows` in L2 and both instances' L1 (a writes them through; each reads them until its L1
 * holds them: a fill is refused when the bus message of a's write lands while the read is out).
 */
async function cacheOnBoth(rows: { id: string; n: number }[]): Promise<void> {
  const ids = rows.map((row) => row.id);
  await a.strata.setMany(items, rows);
  for (const node of [a, b]) {
    const held = await until(5_000, async () => {
      expect(await node.strata.getMany(items, ids)).toEqual(rows);
      return rows.every((row) => node.strata.peek(items, row.id)?.n === row.n);
    });
    expect(held).toBe(true);
  }
}

/** The MARK scripts among `scripts` (the only ones naming row keys in a pass), by bucket tag: the ids each marked. */
function marksByBucket(scripts: readonly SentScript[]): Map<string, string[]> {
  const marks = new Map<string, string[]>();
  for (const { keys } of scripts.filter((s) => s.keys.some((key) => key.includes(':r:')))) {
    // Every key of one script in one slot: no CROSSSLOT.
    expect(new Set(keys.map(hashSlot)).size).toBe(1);
    const tag = /^\{([^}]+)\}/.exec(keys[0]!)![1]!;
    expect(marks.has(tag), `a second MARK in bucket ${tag}`).toBe(false);
    marks.set(
      tag,
      keys.filter((key) => key.includes(':r:')).map((key) => key.slice(key.lastIndexOf(':r:') + 3)),
    );
  }
  return marks;
}

it('16 buckets: changes made with plain SQL are marked with one script per bucket touched, then the cursor moves; both instances and a fresh one read the new rows', async () => {
  const rows = Array.from({ length: 48 }, (_, i) => ({ id: `r${i}`, n: i }));
  await cacheOnBoth(rows);
  const bucketOf = await bucketsOfCachedRows();
  const updated = rows.slice(0, 40).map((row) => row.id);
  const deleted = ['r40', 'r41'];
  const changed = [...updated, ...deleted];
  const touched = new Set(changed.map((id) => bucketOf.get(id)!));
  const masters = new Set(
    await Promise.all([...touched].map(async (k) => (await masterFor(admin, `{${name}#${k}}`)).options.port)),
  );
  expect(touched.size).toBeGreaterThan(1);
  expect(masters.size).toBeGreaterThan(1);

  // Outside Strata: two statements, two log entries.
  await outside.query(`update ${qualified} set n = n + 1000 where id = any($1)`, [updated]);
  await outside.query(`delete from ${qualified} where id = any($1)`, [deleted]);
  const cursorBefore = await admin.get(state('cursor'));
  const heard = b.strata.stats().invalidationsApplied;

  const { result, scripts } = await scriptsDuring(() => a.strata.relayChanges());
  expect(result).toEqual({ status: 'applied', changes: 2, gap: false });

  // One MARK per bucket the changed rows live in, each naming exactly that bucket's changed rows.
  const marks = marksByBucket(scripts);
  expect([...marks.keys()].sort()).toEqual([...touched].map((k) => `${name}#${k}`).sort());
  for (const [tag, ids] of marks) {
    const k = Number(tag.slice(tag.lastIndexOf('#') + 1));
    expect(ids.sort(), `bucket ${k}`).toEqual(changed.filter((id) => bucketOf.get(id) === k).sort());
  }
  // The relay's own state: take and store, both in bucket 0's slot; the store after every MARK.
  const own = scripts.flatMap((s, i) => (s.keys[0]?.includes(':changes:') ? [{ ...s, i }] : []));
  expect(own).toHaveLength(2);
  for (const { keys } of own) {
    expect(keys).toEqual([state('lease'), state('cursor'), state('at')]);
    expect(keys.map(hashSlot)).toEqual(keys.map(() => hashSlot(`{${name}#0}`)));
  }
  const lastMark = Math.max(
    ...scripts.flatMap((s, i) => (s.keys.some((key) => key.includes(':r:')) ? [i] : [])),
  );
  expect(own[1]!.i).toBeGreaterThan(lastMark);
  expect(await admin.get(state('cursor'))).not.toBe(cursorBefore);
  expect(await admin.exists(state('lease'))).toBe(0);
  console.log(
    `relay over ${BUCKETS} buckets: ${changed.length} rows changed in ${touched.size} buckets on ` +
      `${masters.size} masters: ${marks.size} MARK scripts, ${scripts.length} scripts in the pass`,
  );

  // b's L1: the bus message drops exactly the changed rows (no event to await but its counter).
  expect(await until(5_000, () => b.strata.stats().invalidationsApplied > heard)).toBe(true);
  for (const row of rows) {
    expect(b.strata.peek(items, row.id), row.id).toEqual(changed.includes(row.id) ? undefined : row);
  }
  const expected = rows.map((row) =>
    deleted.includes(row.id) ? null : updated.includes(row.id) ? { id: row.id, n: row.n + 1000 } : row,
  );
  const ids = rows.map((row) => row.id);
  // L2: a fresh instance finds the unchanged rows there and the changed ones marked (read from Postgres).
  const c = await app.open();
  expect(await c.strata.getMany(items, ids)).toEqual(expected);
  expect(c.strata.stats().hits.l2).toBe(rows.length - changed.length);
  for (const node of [a, b]) expect(await node.strata.getMany(items, ids)).toEqual(expected);
  for (const row of expected.filter((r) => r !== null)) expect(b.strata.peek(items, row.id)).toEqual(row);
  expect(a.strata.stats().errors + b.strata.stats().errors + c.strata.stats().errors).toBe(errorsAtStart);
}, 60_000);

it('capture.relay with 16 buckets is not refused; a keyPrefix with a {tag} of its own still is', async () => {
  const relaying = await app.open();
  expect(relaying.strata.stats().capture.relay).not.toBeNull();
  const tagged = await app.open({ keyPrefix: `{${name}}t` }).catch((err: unknown) => err);
  expect(isStrataError(tagged, 'INVALID_CONFIG')).toBe(true);
  expect((tagged as { details?: unknown }).details).toEqual({ field: 'keyPrefix' });
});

it('a shard that does not answer during a pass: the pass fails, the cursor stays; the next pass applies the page again', async () => {
  // Short L2 deadline, and a breaker that stays closed: the next pass is not refused by it.
  // Its warnings kept: the pass logs its MARK failures once.
  const warned: { message: string; fields?: Record<string, unknown> }[] = [];
  const logger = {
    debug() {},
    info() {},
    error() {},
    warn: (message: string, fields?: Record<string, unknown>) => void warned.push({ message, fields }),
  };
  const relay = await app.open({
    timeouts: { l2: '600ms' },
    breaker: { failureThreshold: 1_000 },
    logger,
  });
  const rows = Array.from({ length: 48 }, (_, i) => ({ id: `f${i}`, n: i }));
  await cacheOnBoth(rows);
  const bucketOf = await bucketsOfCachedRows();
  // The master with the most buckets, bucket 0's (the relay's state) not among them.
  const [port, paused] = await busiestMaster(admin, name, BUCKETS, [0]);
  const changed = rows.filter((row) => paused.includes(bucketOf.get(row.id)!)).map((row) => row.id);
  expect(changed.length).toBeGreaterThan(0);
  await outside.query(`update ${qualified} set n = n + 1000 where id like 'f%'`);
  const cursorBefore = await admin.get(state('cursor'));

  // Writes (scripts) to that master wait while it is paused: the pass's MARKs there time out.
  const master = admin.nodes('master').find((node) => node.options.port === port)!;
  const generations = () =>
    Promise.all(
      Array.from({ length: BUCKETS }, async (_, k) =>
        Number(await admin.get(`{${name}#${k}}:${items.identity}:gen`)),
      ),
    );
  const before = await generations();
  const counted = relay.strata.stats().errorsBy;
  await master.call('CLIENT', 'PAUSE', '10000', 'WRITE');
  onTestFinished(() => master.call('CLIENT', 'UNPAUSE').then(() => undefined));
  const failed = await relay.strata.relayChanges();
  await master.call('CLIENT', 'UNPAUSE');
  expect(failed?.status).toBe('failed');
  const error = failed?.status === 'failed' ? failed.error : undefined;
  expect(isStrataError(error, 'L2_UNAVAILABLE')).toBe(true);
  // The MARKs of every paused bucket failed: one L2 error for them, logged once naming those
  // buckets, and the pass's own failure. (The bus publish may also fail on the paused master: an
  // L2 error of its own, logged as such.)
  const touched = paused.filter((k) => changed.some((id) => bucketOf.get(id) === k)).sort((x, y) => x - y);
  expect(touched.length).toBeGreaterThan(1);
  const marks = warned.filter((w) => w.message === 'l2 mark failed; continuing without it');
  expect(marks).toHaveLength(1);
  expect(marks[0]!.fields?.buckets).toEqual({ items: touched });
  const l2Warnings = warned.filter((w) => w.message.startsWith('l2 ')).length;
  expect(relay.strata.stats().errorsBy.l2 ?? 0).toBe((counted.l2 ?? 0) + l2Warnings);
  expect(relay.strata.stats().errorsBy.capture ?? 0).toBe((counted.capture ?? 0) + 1);
  expect(await admin.get(state('cursor'))).toBe(cursorBefore);
  expect(await admin.exists(state('lease'))).toBe(0);

  // The next pass reads the same page from the stored cursor and applies it in every bucket.
  expect(await relay.strata.relayChanges()).toEqual({ status: 'applied', changes: 1, gap: false });
  expect(await admin.get(state('cursor'))).not.toBe(cursorBefore);
  // Only the buckets whose MARK failed moved their generation on (before that pass used them).
  const after = await generations();
  expect(after.flatMap((g, k) => (g > before[k]! ? [k] : []))).toEqual(touched);
  const fresh = await app.open();
  const expected = rows.map((row) => ({ id: row.id, n: row.n + 1000 }));
  expect(
    await fresh.strata.getMany(
      items,
      rows.map((row) => row.id),
    ),
  ).toEqual(expected);
  expect(fresh.strata.stats().hits.l2).toBe(0);
  expect(await until(5_000, () => rows.every((row) => b.strata.peek(items, row.id) === undefined))).toBe(
    true,
  );
  expect(
    await b.strata.getMany(
      items,
      rows.map((row) => row.id),
    ),
  ).toEqual(expected);
}, 60_000);
