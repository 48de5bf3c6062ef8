/**
 * Write-behind over 16 buckets on a real Redis Cluster (3 masters + 3 replicas; key layout C step
 * 5): one write stream per bucket, `{prefix#b}:writes`, in the bucket's slot, filled inside the L2
 * script of that bucket's writes; reads on every instance see the writes before the flush; a
 * flushDirty drains every stream. And the refusal to start while another bucket count's writes
 * still wait in a stream (no acknowledged write stranded when `buckets` changes).
 */
import { defineSchema, isStrataError, Q } from '@strata/core';
import { uniqueName } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { expect, it } from 'vitest';
import { hashSlot, masterFor } from '../src/redis-tcp/cluster-slots.js';
import { clusterApp } from './support/cluster-app.js';

const name = uniqueName('cl_wbb_wbbuckets');
const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
const items = defineSchema({ table, writeMode: 'write-behind', l1: false });
const BUCKETS = 16;

const app = clusterApp(name, {
  schemas: [items],
  buckets: BUCKETS,
  // No timer flush in the way: the test says when writes leave the streams.
  writeBehind: { flushInterval: '1h' },
});
const { clients } = app;
const open = (keyPrefix: string, buckets = BUCKETS) => app.open({ keyPrefix, buckets });

const stream = (prefix: string, b: number) => `{${prefix}#${b}}:writes`;

it('16 buckets: two instances write; each bucket stream holds its bucket’s writes; reads see them before the flush; flushDirty drains all 16', async () => {
  const p = `${name}a`;
  const a = await open(p);
  await a.strata.migrate();
  const b = await open(p);
  const admin = clients.open();
  const ids = Array.from({ length: 160 }, (_, i) => `r${i}`);
  await a.strata.setMany(
    items,
    ids.slice(0, 80).map((id, i) => ({ id, n: i })),
  );
  for (const [i, id] of ids.slice(80).entries()) await b.strata.set(items, { id, n: 80 + i });
  const expected = ids.map((id, i) => ({ id, n: i }));
  // Nothing in Postgres yet; every instance reads every write (from L2, in its bucket).
  expect(await a.db.select().from(table)).toEqual([]);
  for (const reader of [a, b, await open(p)]) {
    expect(await reader.strata.getMany(items, ids)).toEqual(expected);
    const found = await reader.strata.search(items, Q().where('n >= $1', 0).limit(1000).build());
    expect(found.length).toBe(ids.length);
  }
  // Each stream is in its bucket's slot, spread over the masters, and holds exactly the writes of
  // the ids its bucket's pending index holds: they were queued inside that bucket's L2 script.
  let total = 0;
  const masters = new Set<number>();
  for (let k = 0; k < BUCKETS; k++) {
    expect(hashSlot(stream(p, k))).toBe(hashSlot(`{${p}#${k}}`));
    masters.add((await masterFor(admin, stream(p, k))).options.port!);
    const entries = await admin.xrange(stream(p, k), '-', '+');
    const queued = entries.map(([, fields]) => JSON.parse(fields[1]!).id as string).sort();
    const index = `{${p}#${k}}:${items.identity}:${items.fingerprint}-json:pending`;
    const pending = (await admin.hkeys(index)).map((field) => field.slice(field.lastIndexOf(':') + 1)).sort();
    expect(queued.length, `bucket ${k}`).toBeGreaterThan(0);
    expect(queued, `bucket ${k}'s stream against its pending index`).toStrictEqual(pending);
    total += queued.length;
  }
  expect(total).toBe(ids.length);
  expect(masters.size).toBe(3);
  expect(await a.strata.queueDepth()).toBe(ids.length);
  // One flushDirty drains every stream: all rows in Postgres, nothing queued.
  await a.strata.flushDirty();
  expect(await b.strata.queueDepth()).toBe(0);
  const stored = await a.db.select().from(table);
  expect(stored.sort((x, y) => Number(x.id.slice(1)) - Number(y.id.slice(1)))).toEqual(expected);
  for (let k = 0; k < BUCKETS; k++) expect(await admin.xlen(stream(p, k))).toBe(0);
  expect(a.strata.stats().errors + b.strata.stats().errors).toBe(0);
}, 60_000);

it('refuses to start while another bucket count’s writes wait; starts once they are flushed', async () => {
  const p = `${name}c`;
  // Another app (keyPrefix) than the first test's, on its table: that one, done writing, lapses.
  await app.lapseClaims();
  const admin = clients.open();
  const refusal = async (buckets = BUCKETS) => {
    try {
      await open(p, buckets);
    } catch (err) {
      if (isStrataError(err, 'INVALID_CONFIG')) return err;
      throw err;
    }
    throw new Error('started');
  };
  // An unbucketed deployment's stream (`{prefix}:writes`, its keyPrefix then carried the tag).
  await admin.xadd(`{${p}}:writes`, '*', 'w', '{}');
  const old = await refusal();
  expect(old.message).toContain(`{${p}}:writes (1)`);
  expect(old.message).toContain('flushDirty()');
  expect(old.details).toMatchObject({ field: 'buckets' });
  expect(await admin.exists(`{${p}#0}:writes:buckets`)).toBe(0); // nothing recorded
  await admin.del(`{${p}}:writes`);
  // A deployment of 32 buckets with writes waiting (one in a stream 16 buckets would not drain,
  // one in a stream both counts name): both refused, named.
  const wide = await open(p, 32);
  await wide.strata.migrate();
  const ids = Array.from({ length: 64 }, (_, i) => `c${i}`);
  await wide.strata.setMany(
    items,
    ids.map((id, i) => ({ id, n: i })),
  );
  const lengths = await Promise.all(Array.from({ length: 32 }, (_, k) => admin.xlen(stream(p, k))));
  expect(lengths.slice(16).some((n) => n > 0) && lengths.slice(0, 16).some((n) => n > 0)).toBe(true);
  const wider = await refusal();
  expect(wider.message).toContain('of 32 bucket count');
  expect(wider.message).toContain(`${stream(p, 16 + lengths.slice(16).findIndex((n) => n > 0))} (`);
  // The procedure: flushDirty on the deployment that wrote them, then the new count starts.
  await wide.strata.flushDirty();
  await wide.shutdown();
  const narrow = await open(p);
  expect(await narrow.strata.getMany(items, ids)).toEqual(ids.map((id, i) => ({ id, n: i })));
  await narrow.strata.set(items, { id: 'c0', n: 100 });
  expect(await narrow.strata.queueDepth()).toBe(1);
  // ...and now the 32-bucket count is the other one: refused while the 16-bucket write waits.
  expect((await refusal(32)).message).toContain('of 16 bucket count');
  await narrow.strata.flushDirty();
}, 60_000);
