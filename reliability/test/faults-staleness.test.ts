import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { defineSchema, Strata } from '@strata/core';
import { manualClock } from '@strata/core/driver';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { drizzle } from 'drizzle-orm/node-postgres';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { codeOf, proxiedStore, quietPool, settleBy } from '../support/fault-harness.js';
import { pastLoad } from '../support/past-load.js';

// Stale-while-revalidate and grace with Postgres really unreachable: the real Postgres behind a
// loopback TCP proxy that freezes (bytes held) or refuses connections; L2 is the real Redis over TCP.

const L3_TIMEOUT = 400;

const pools: pg.Pool[] = [];
const instances: Strata[] = [];
// The file's store; a proxy in front of its Postgres per test (closed after it, with the test's instances).
const f = proxiedStore('faults_swr', {
  afterTest: async () => {
    f.proxy.resume(); // a test that failed midway may have left it frozen or refusing
    f.proxy.refuse(false);
    await Promise.allSettled(instances.splice(0).map((s) => s.close()));
    await Promise.allSettled(pools.splice(0).map((p) => p.end()));
  },
});

const clock = manualClock();
const schema = () =>
  defineSchema({
    table: f.store.table,
    name: f.store.name,
    l1: { ttl: '10s' },
    l2: { ttl: '10s' },
    stale: '1m',
    grace: '5m',
  });

/** A Strata (one instance) whose L3 reaches Postgres only through the proxy, with its own pool. */
function instance(s: ReturnType<typeof schema>): Strata {
  const pool = quietPool(f.proxy.url(f.store.databaseUrl), 2);
  pools.push(pool);
  const strata = new Strata({
    l2: createIoredisL2(f.store.redisUrl),
    l3: createDrizzleL3(drizzle(pool), { migrationsSchema: f.store.name }),
    keyPrefix: f.store.name,
    clock,
    timeouts: { l2: '1s', l3: L3_TIMEOUT },
    schemas: [s],
  });
  instances.push(strata);
  return strata;
}

/** A seed through a short-timeout instance (see `pastLoad`): acknowledged, and so cached by it. */
async function seed(strata: Strata, s: ReturnType<typeof schema>, row: { id: string; n: number }) {
  expect(
    codeOf(
      await pastLoad(
        () => strata.set(s, row),
        (work) => settleBy(work, 3_000),
      ),
    ),
  ).toBe('OK');
}

describe('Postgres frozen', () => {
  it('a stale read answers without waiting; stale: false waits (then grace answers); the refresh lands after', async () => {
    const s = schema();
    const strata = instance(s);
    await seed(strata, s, { id: 'frozen', n: 1 });
    await f.store.pool.query(`update "${f.store.name}".items set n = 2 where id = 'frozen'`);
    clock.advance(11_000);
    f.proxy.pause();
    // Without waiting: answered while the refresh it started is still out (frozen until its L3
    // timeout, which counts it in errorsBy): a read that waited for it would see that count first.
    // The 3 s bound only catches a hang: a read that waited is caught by that count, not the clock.
    // Counted from here: a seed attempt may have timed out on a busy machine (see `pastLoad`).
    const l3Errors = () => strata.stats().errorsBy.l3 ?? 0;
    const erredBefore = l3Errors();
    const stale = await settleBy(strata.get(s, 'frozen'), 3_000);
    expect(codeOf(stale)).toBe('OK');
    if ('ok' in stale && stale.ok) expect(stale.value.n).toBe(1);
    expect(l3Errors(), 'the refresh had ended when the stale read answered').toBe(erredBefore);
    expect(strata.stats()).toMatchObject({ staleHits: 1, graceHits: 0 });
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
    f.proxy.resume();
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
    await seed(writer, s, { id: 'down', n: 7 });
    clock.advance(11_000 + 60_000 + 1_000); // past the stale window, inside grace
    f.proxy.pause();
    const fromL1 = await settleBy(writer.get(s, 'down'), L3_TIMEOUT * 3);
    expect(codeOf(fromL1)).toBe('OK');
    if ('ok' in fromL1 && fromL1.ok) expect(fromL1.value.n).toBe(7);
    expect(writer.stats().graceHits).toBe(1);
    f.proxy.resume();

    f.proxy.refuse(true);
    const reader = instance(s); // no connection yet: every one it opens is refused
    const fromL2 = await settleBy(reader.get(s, 'down'), L3_TIMEOUT * 3);
    expect(codeOf(fromL2)).toBe('OK');
    if ('ok' in fromL2 && fromL2.ok) expect(fromL2.value.n).toBe(7);
    expect(reader.stats().graceHits).toBe(1);

    clock.advance(5 * 60_000);
    const ended = await settleBy(reader.get(s, 'down'), L3_TIMEOUT * 3);
    expect(codeOf(ended)).toBe('L3_UNAVAILABLE');
    f.proxy.refuse(false);
    expect((await reader.get(s, 'down')).n).toBe(7);
    const stored = await f.store.stored();
    expect(stored.get('down')).toBe(7);
  });
});
