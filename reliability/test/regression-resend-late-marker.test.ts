import { createIoredisL2, createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { defineSchema } from '@strata/core';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedisLink } from '../support/deployment-link.js';
import { scratchApp } from '../support/scratch-app.js';

// A committed write whose PUT L2 missed is sent again before the writer's next L2 use
// (MissedWriteRepair). Without a reset, it PUT the row at its version: a key that holds a newer
// version keeps it, but one whose newer copy is gone no longer refuses it. Here A's link to Redis is
// cut while it sets k (v1); B then deletes k (v2, a tombstone kept 60 s) or sets it (v2, its row);
// that copy goes (the tombstone's time is up, or Redis evicts the row: the key is deleted, as Redis
// does at either); then A's link comes back and its resend put the v1 row into the empty key. Every
// instance then served it (the deleted row, or n = 1 for n = 2) until its L2 TTL while Postgres held
// v2. Now a resend is late by nature: it leaves a superseded marker at its versions, never its rows,
// so readers fill from Postgres (one read per resent key; resends are rare).

const cols = { id: text('id').primaryKey(), n: integer('n').notNull() };
const closers: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

describe('a missed write sent again after the newer copy left Redis (no reset)', () => {
  const scratch = scratchApp('resend_late_marker');
  const { pgName, redisUrl, raw, name } = scratch;
  const table = pgSchema(pgName).table('items', cols);
  scratch.migrate(table);

  it.each([
    ['write-through', 'delete', 'its tombstone expired'],
    ['write-through', 'set', 'its row evicted'],
    ['write-through-l1-async', 'delete', 'its tombstone expired'],
  ] as const)('%s, a newer %s, %s: the resent row is not served', async (writeMode, newer, _gone) => {
    const schema = defineSchema({ name: 'items', table, writeMode });
    const link = await startRedisLink(Number(new URL(redisUrl).port || 6379), 1_000);
    closers.push(() => link.close());
    // A's L2 goes through the proxy; while cut, its reconnects wait past its L2 timeout.
    const viaProxy = link.client(redisUrl);
    closers.push(async () => viaProxy.disconnect());
    const channel = `${name}:bus`;
    const b = scratch.strata({
      schemas: [schema],
      coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel }) },
    });
    const a = scratch.strata({
      schemas: [schema],
      l2: createIoredisL2(viaProxy),
      coherence: { bus: createRedisPubSubBus({ redis: viaProxy, channel }) },
      timeouts: { l2: '300ms' },
    });
    const k = `k-${writeMode}-${newer}`;
    await b.set(schema, { id: k, n: 0 });
    for (const s of [a, b]) expect((await s.find(schema, k))?.n).toBe(0);

    // A's link is cut: its set commits in Postgres (v1), L2 misses the row (kept to send again).
    const reconnecting = link.reconnecting();
    link.cut();
    await reconnecting;
    await a.set(schema, { id: k, n: 1 });
    expect(a.stats().errorsBy.l2, "A's L2 missed the set").toBeGreaterThan(0);
    // B writes k after it (v2): Postgres and L2 hold it.
    if (newer === 'delete') expect(await b.delete(schema, k)).toBe(true);
    else await b.set(schema, { id: k, n: 2 });
    const expected = newer === 'delete' ? undefined : 2;
    expect(await scratch.n(k)).toBe(expected);
    // v2's copy leaves Redis: the tombstone's time is up, or the row is evicted (Redis deletes the key).
    const [rowKey, ...more] = await raw.keys(`${name}:*:r:${k}`);
    expect(more).toEqual([]);
    expect(await raw.del(rowKey!)).toBe(1);

    // The link comes back; A's next L2 use sends the missed write again first.
    link.heal();
    await link.ready(10_000);
    await a.find(schema, 'another key');
    expect(a.stats().errorsBy['l2-reset'] ?? 0, 'no reset here').toBe(0);

    // Old failure: an instance started now reads Postgres: expected 1 to be undefined (delete), 1 to be 2 (set).
    const fresh = scratch.strata({ schemas: [schema] });
    expect((await fresh.find(schema, k))?.n, 'an instance started now reads Postgres').toBe(expected);
    expect((await fresh.find(schema, k))?.n, 'and again, from its L1').toBe(expected);
    const other = scratch.strata({ schemas: [schema] });
    expect((await other.find(schema, k))?.n, 'another, from the L2 copy the first filled').toBe(expected);
  });
});
