import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { defineSchema, Strata } from '@strata/core';
import { manualClock } from '@strata/core/driver';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, type FaultScratch, faultScratch, settleBy } from '../support/fault-harness.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

// Stale-while-revalidate and grace with Postgres really unreachable: the real Postgres behind a
// loopback TCP proxy that freezes (bytes held) or refuses connections; L2 is the real Redis over TCP.

const L3_TIMEOUT = 400;

let proxy: TcpProxy;
let store: FaultScratch;
const pools: pg.Pool[] = [];
const instances: Strata[] = [];

beforeAll(async () => {
  store = await faultScratch('faults_swr');
  proxy = await startTcpProxy(Number(new URL(store.databaseUrl).port || 5432));
});
afterEach(async () => {
  proxy.resume();
  proxy.refuse(false);
  await Promise.allSettled(instances.splice(0).map((s) => s.close()));
  await Promise.allSettled(pools.splice(0).map((p) => p.end()));
});
afterAll(async () => {
  await proxy?.close();
  await store?.cleanup();
});

const clock = manualClock();
const schema = () =>
  defineSchema({
    table: store.table,
    name: store.name,
    l1: { ttl: '10s' },
    l2: { ttl: '10s' },
    stale: '1m',
    grace: '5m',
  });

/** A Strata (one instance) whose L3 reaches Postgres only through the proxy, with its own pool. */
function instance(s: ReturnType<typeof schema>): Strata {
  const pool = new pg.Pool({ connectionString: proxy.url(store.databaseUrl), max: 2 });
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  pools.push(pool);
  const strata = new Strata({
    l2: createIoredisL2(store.redisUrl),
    l3: createDrizzleL3(drizzle(pool), { migrationsSchema: store.name }),
    keyPrefix: store.name,
    clock,
    timeouts: { l2: '1s', l3: L3_TIMEOUT },
    schemas: [s],
  });
  instances.push(strata);
  return strata;
}

describe('Postgres frozen', () => {
  it('a stale read answers without waiting; stale: false waits (then grace answers); the refresh lands after', async () => {
    const s = schema();
    const strata = instance(s);
    await strata.set(s, { id: 'frozen', n: 1 });
    await store.pool.query(`update "${store.name}".items set n = 2 where id = 'frozen'`);
    clock.advance(11_000);
    proxy.pause();
    const started = performance.now();
    const stale = await settleBy(strata.get(s, 'frozen'), L3_TIMEOUT / 2);
    expect(codeOf(stale)).toBe('OK');
    if ('ok' in stale && stale.ok) expect(stale.value.n).toBe(1);
    expect(performance.now() - started).toBeLessThan(L3_TIMEOUT / 2);
    // stale: false waits for Postgres; when its deadline passes, grace answers the same row.
    const waited = performance.now();
    const through = await settleBy(strata.get(s, 'frozen', { stale: false }), L3_TIMEOUT * 3);
    expect(performance.now() - waited).toBeGreaterThanOrEqual(L3_TIMEOUT - 5);
    expect(codeOf(through)).toBe('OK');
    if ('ok' in through && through.ok) expect(through.value.n).toBe(1);
    expect(strata.stats()).toMatchObject({ staleHits: 1, graceHits: 1 });
    // The refresh started by the stale read timed out while frozen (counted, not thrown at anyone).
    await strata.settled();
    expect(strata.stats().errorsBy.l3).toBeGreaterThanOrEqual(2);
    proxy.resume();
    // Still stale: this read starts a new refresh, which reaches Postgres now.
    expect((await strata.get(s, 'frozen')).n).toBe(1);
    await strata.settled();
    expect((await strata.get(s, 'frozen')).n).toBe(2);
    expect(strata.stats().refreshes).toBe(2);
  });
});

describe('Postgres down', () => {
  it('grace answers the last row from L1 (frozen) and from L2 (refused) until it ends', async () => {
    const s = schema();
    const writer = instance(s);
    await writer.set(s, { id: 'down', n: 7 });
    clock.advance(11_000 + 60_000 + 1_000); // past the stale window, inside grace
    proxy.pause();
    const fromL1 = await settleBy(writer.get(s, 'down'), L3_TIMEOUT * 3);
    expect(codeOf(fromL1)).toBe('OK');
    if ('ok' in fromL1 && fromL1.ok) expect(fromL1.value.n).toBe(7);
    expect(writer.stats().graceHits).toBe(1);
    proxy.resume();

    proxy.refuse(true);
    const reader = instance(s); // no connection yet: every one it opens is refused
    const fromL2 = await settleBy(reader.get(s, 'down'), L3_TIMEOUT * 3);
    expect(codeOf(fromL2)).toBe('OK');
    if ('ok' in fromL2 && fromL2.ok) expect(fromL2.value.n).toBe(7);
    expect(reader.stats().graceHits).toBe(1);

    clock.advance(5 * 60_000);
    const ended = await settleBy(reader.get(s, 'down'), L3_TIMEOUT * 3);
    expect(codeOf(ended)).toBe('L3_UNAVAILABLE');
    proxy.refuse(false);
    expect((await reader.get(s, 'down')).n).toBe(7);
    const stored = await store.stored();
    expect(stored.get('down')).toBe(7);
  });
});
