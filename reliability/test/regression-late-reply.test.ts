import { createIoredisL2, createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { codeOf, type FaultScratch, faultScratch, settleBy, Tally } from '../support/fault-harness.js';
import { startTcpProxy } from '../support/tcp-proxy.js';

// Issue 12 item 11: a write-through commit whose reply comes back late. Instance A's Postgres
// connection goes through a loopback TCP proxy that holds A's reply while B writes the same key.
// Before the issue A then wrote its (older) row into L2 unconditionally and every instance read it.

const DEADLINE = 5_000;
const instances: Strata[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  await Promise.allSettled(instances.splice(0).map((s) => s.close()));
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

function track(strata: Strata): Strata {
  instances.push(strata);
  return strata;
}

describe('a commit reply held in the network', () => {
  let store: FaultScratch;
  beforeAll(async () => {
    store = await faultScratch('reg_late_reply');
  });
  afterAll(async () => {
    await store?.cleanup();
  });

  it('issue 12 item 11: A’s reply is held while B writes the same key: every instance then reads what Postgres holds (B’s)', async () => {
    const t = new Tally('faults', 'postgres: write-through reply held while another instance writes the key');
    const proxy = await startTcpProxy(Number(new URL(store.databaseUrl).port || 5432));
    cleanups.push(() => proxy.close());
    const schema = store.schema();
    const instance = (db = store.db) =>
      track(
        new Strata({
          l2: createIoredisL2(store.redisUrl),
          l3: createDrizzleL3(db, { migrationsSchema: store.name }),
          coherence: { bus: createRedisPubSubBus({ url: store.redisUrl, channel: `${store.name}:bus` }) },
          keyPrefix: store.name,
          ttl: { l1: '10m' }, // coherence from versions and the bus, not from short TTLs
          schemas: [schema],
        }),
      );
    // A reaches Postgres only through the proxy.
    const pool = new pg.Pool({ connectionString: proxy.url(store.databaseUrl), max: 2 });
    pool.on('error', () => {});
    pool.on('connect', (client) => client.on('error', () => {}));
    cleanups.push(() => pool.end());
    const a = instance(drizzle(pool));
    const b = instance();
    for (const s of [a, b]) await s.find(schema, 'warm-up'); // subscribed before the first write
    const applied = () => [a, b].map((s) => s.stats().invalidationsApplied);
    const busSettled = async (from: number[]) =>
      vi.waitFor(() => expect(applied().every((n, i) => n > from[i]!)).toBe(true), {
        timeout: 3_000,
        interval: 5,
      });

    const k = 'late';
    let from = applied();
    expect(codeOf(await t.run(b.set(schema, { id: k, n: 0, label: 'first' }), DEADLINE))).toBe('OK');
    expect(codeOf(await t.run(a.set(schema, { id: k, n: 0, label: 'first' }), DEADLINE))).toBe('OK');
    await busSettled(from);
    for (const s of [a, b]) expect((await s.get(schema, k)).n).toBe(0); // both L1s hold the key

    // A's write reaches Postgres and commits; the reply (the first bytes back after it) is held.
    let sent = false;
    // Never fires: it only sees A's write go out (its parameters carry the label).
    const sees = (chunk: Buffer) => {
      if (chunk.includes('late-by-a')) sent = true;
      return false;
    };
    void proxy.trap({ direction: 'up', action: 'hold', match: sees });
    const held = proxy.trap({ direction: 'down', action: 'hold', match: () => sent });
    from = applied();
    const aWrite = t.run(a.set(schema, { id: k, n: 1, label: 'late-by-a' }), DEADLINE);
    expect(await settleBy(held, DEADLINE)).toEqual({ ok: true, value: undefined });
    t.fault();
    // Meanwhile B writes the key and is acknowledged: Postgres commits B's write after A's.
    expect(codeOf(await t.run(b.set(schema, { id: k, n: 2, label: 'by-b' }), DEADLINE))).toBe('OK');
    t.acked(k, 2);
    proxy.resume();
    expect(codeOf(await aWrite)).toBe('OK');
    t.acked(k, 1);
    expect((await store.stored()).get(k)).toBe(2);
    await busSettled(from);

    // Every instance, and one started now, reads what Postgres holds: B's value, never A's.
    const c = instance();
    const reads: Record<string, unknown> = {};
    for (const [who, s] of [
      ['a', a],
      ['b', b],
      ['fresh', c],
    ] as const) {
      const r = await t.run(s.get(schema, k), DEADLINE);
      reads[who] = 'ok' in r && r.ok ? r.value.n : codeOf(r);
    }
    expect(reads).toEqual({ a: 2, b: 2, fresh: 2 });
    expect(t.hangs).toBe(0);
    expect(t.unhandledRejections).toBe(0);
    t.finish({ writesFound: t.found(await store.stored()) });
  });
});
