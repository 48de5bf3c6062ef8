import { createIoredisL2, createRedisStreamQueue } from '@strata/adapter-node/redis-tcp';
import { isStrataError, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { drizzle } from 'drizzle-orm/node-postgres';
import type pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import { codeOf, proxiedStore, quietPool, settleBy, storeStrata, Tally } from '../support/fault-harness.js';
import { BUSY_TIMEOUT, pastLoad } from '../support/past-load.js';

// The real Postgres behind a loopback TCP proxy: connections cut mid-transaction, frozen, refused,
// while Strata works through a pg Pool on the proxy. L2 and the write queue are the real Redis.

const L3_TIMEOUT = 400;
const DEADLINE = 3_000;

const pools: pg.Pool[] = [];
const instances: Strata[] = [];
const env = proxiedStore('faults_pg', {
  afterTest: async () => {
    await Promise.allSettled(instances.splice(0).map((s) => s.close()));
    await Promise.allSettled(pools.splice(0).map((p) => p.end()));
  },
});

/**
 * Strata whose L3 reaches Postgres only through the proxy; its L3 timeout `L3_TIMEOUT` where a case
 * tests it (a frozen Postgres), else `BUSY_TIMEOUT`, which no call that goes through reaches on a
 * busy machine (a cut or a refused connection fails at once).
 */
function strataThroughProxy(options: { writeBehind?: boolean; stream?: string; l3Timeout?: number } = {}) {
  const pool = quietPool(env.proxy.url(env.store.databaseUrl), 4);
  pools.push(pool);
  const strata = new Strata({
    l2: createIoredisL2(env.store.redisUrl),
    l3: createDrizzleL3(drizzle(pool), { migrationsSchema: env.store.name }),
    keyPrefix: env.store.name,
    timeouts: { l2: '1s', l3: options.l3Timeout ?? BUSY_TIMEOUT },
    ...(options.writeBehind && {
      // allowVolatile: the test Redis has no AOF; this suite breaks Postgres, not Redis.
      writeBehind: {
        queue: createRedisStreamQueue({
          url: env.store.redisUrl,
          keyPrefix: env.store.name,
          stream: options.stream!,
          claimIdleMs: 200,
          allowVolatile: true,
        }),
      },
    }),
    schemas: [env.store.schema(options.writeBehind ? 'write-behind' : 'write-through')],
  });
  instances.push(strata);
  return Object.assign(strata, { pool });
}

/** A step outside the fault (a seed, a write after it) through a short-timeout instance (see `pastLoad`). */
const outsideFault = <T>(t: Tally, call: () => Promise<T>) => pastLoad(call, (work) => t.run(work, DEADLINE));

/** Until every connection of the pool is idle again (held statements landed). */
async function drained(pool: pg.Pool): Promise<void> {
  await vi.waitFor(() => expect(pool.totalCount - pool.idleCount).toBe(0), { timeout: 5_000, interval: 20 });
}

const isInsert = (chunk: Buffer) => /insert into/i.test(chunk.toString('latin1'));

describe('Postgres connection cut mid-transaction', () => {
  it('TX_FAILED, nothing of it in Postgres or the caches; the pool recovers and later writes commit', async () => {
    const t = new Tally('faults', 'postgres: connection cut mid-transaction (after BEGIN, at the INSERT)');
    const schema = env.store.schema();
    const strata = strataThroughProxy();
    let n = 0;
    for (let round = 0; round < 10; round++) {
      const v = ++n;
      const ok = await t.run(
        strata.tx().set(schema, { id: 'tx-a', n: v }).set(schema, { id: 'tx-b', n: v }).commit(),
        DEADLINE,
      );
      expect(codeOf(ok)).toBe('OK');
      t.acked('tx-a', v);
      t.acked('tx-b', v);

      // The next transaction loses its connection after BEGIN, as its INSERT goes out.
      const fired = env.proxy.trap({ direction: 'up', match: isInsert, action: 'cut' });
      const cut = await t.run(
        strata
          .tx()
          .set(schema, { id: 'tx-a', n: 1_000 + v })
          .set(schema, { id: 'tx-b', n: 1_000 + v })
          .commit(),
        DEADLINE,
      );
      expect(await settleBy(fired, 100)).toEqual({ ok: true, value: undefined });
      t.fault();
      expect(codeOf(cut)).toBe('TX_FAILED');

      // Rolled back: Postgres and every cache still hold the last acknowledged values.
      const stored = await env.store.stored();
      expect([stored.get('tx-a'), stored.get('tx-b')]).toEqual([v, v]);
      for (const id of ['tx-a', 'tx-b']) {
        const r = await t.run(strata.get(schema, id), DEADLINE);
        expect(codeOf(r)).toBe('OK');
        if ('ok' in r && r.ok) expect(r.value.n).toBe(v);
      }
    }
    const stored = await env.store.stored();
    expect(t.missing(stored)).toEqual([]);
    expect(t.hangs).toBe(0);
    expect(t.unhandledRejections).toBe(0);
    t.finish({ writesFound: t.found(stored) });
  });

  // When the connection dies after COMMIT reached Postgres but before its reply came back, the
  // outcome is unknown: the caches must drop the old value, as Postgres may have the new one.
  it('a transaction whose COMMIT reply is lost leaves no stale value in the caches', async () => {
    const schema = env.store.schema();
    const strata = strataThroughProxy();
    expect(codeOf(await settleBy(strata.set(schema, { id: 'lost-reply', n: 1 }), DEADLINE))).toBe('OK');
    expect(codeOf(await settleBy(strata.get(schema, 'lost-reply'), DEADLINE))).toBe('OK');
    env.proxy.trap({
      direction: 'up',
      match: (b) => /commit/i.test(b.toString('latin1')),
      action: 'cut-on-reply',
    });
    // A set and a delete: a one-statement transaction is sent without BEGIN/COMMIT (atomic by itself).
    const r = await settleBy(
      strata.tx().set(schema, { id: 'lost-reply', n: 2 }).delete(schema, 'lost-reply-b').commit(),
      DEADLINE,
    );
    expect(env.proxy.stats().trapsFired).toBe(1);
    expect(codeOf(r)).toBe('TX_FAILED');
    expect((await env.store.stored()).get('lost-reply')).toBe(2); // committed after all
    const read = await settleBy(strata.get(schema, 'lost-reply'), DEADLINE);
    expect('ok' in read && read.ok && read.value.n).toBe(2);
  });
});

describe('Postgres frozen', () => {
  it('writes fail fast with typed errors by their timeout, cached reads still answer, nothing hangs', async () => {
    const t = new Tally('faults', 'postgres: frozen (bytes held), write-through');
    const schema = env.store.schema();
    const strata = strataThroughProxy({ l3Timeout: L3_TIMEOUT });
    for (let i = 0; i < 5; i++) {
      for (const id of [`fr-${i}`, `fc-${i}`]) {
        const r = await outsideFault(t, () => strata.set(schema, { id, n: 1 }));
        expect(codeOf(r)).toBe('OK');
        t.acked(id, 1);
      }
    }
    env.proxy.pause();
    t.fault();
    for (let i = 0; i < 5; i++) {
      // Frozen bytes are held until the thaw: a write that waited for Postgres would reach DEADLINE
      // (7.5 L3 timeouts: a hang), however busy the machine; it ends by its own timeout instead.
      const w = await t.run(strata.set(schema, { id: `fr-${i}`, n: 2 }), DEADLINE);
      expect(codeOf(w)).toBe('L3_UNAVAILABLE');
      if ('ok' in w && !w.ok) expect(isStrataError((w.error as Error).cause, 'TIMEOUT')).toBe(true);
      // Cached and not written since: answered, with the last acknowledged value.
      const r = await t.run(strata.get(schema, `fc-${i}`), DEADLINE);
      expect(codeOf(r)).toBe('OK');
      if ('ok' in r && r.ok) expect(r.value.n).toBe(1);
      // The timed-out write may still commit (its outcome is unknown): its id is no longer answered
      // from a cache that might be stale, but from Postgres, which is frozen: a typed error, in time.
      const unknown = await t.run(strata.get(schema, `fr-${i}`), DEADLINE);
      expect(codeOf(unknown)).toBe('L3_UNAVAILABLE');
      // Not cached: a typed error, by the timeout.
      const miss = await t.run(strata.get(schema, `fr-missing-${i}`), DEADLINE);
      expect(codeOf(miss)).toBe('L3_UNAVAILABLE');
    }
    const tx = await t.run(
      strata.tx().set(schema, { id: 'fr-0', n: 3 }).commit({ timeout: L3_TIMEOUT }),
      DEADLINE,
    );
    expect(codeOf(tx)).toBe('TX_TIMEOUT');
    // Every call above settled with Postgres' bytes still held: none was answered by Postgres.
    expect(env.proxy.queued, 'chunks held by the frozen proxy').toBeGreaterThan(0);

    // Thawed: the held statements land (the timed-out writes may still commit: see the report on
    // unknown outcomes), then a new write is acknowledged and found.
    env.proxy.resume();
    await drained(strata.pool);
    const w = await outsideFault(t, () => strata.set(schema, { id: 'fr-0', n: 4 }));
    expect(codeOf(w)).toBe('OK');
    t.acked('fr-0', 4);
    const stored = await env.store.stored();
    expect(t.missing(stored)).toEqual([]);
    expect(t.hangs).toBe(0);
    expect(t.unhandledRejections).toBe(0);
    t.finish({ writesFound: t.found(stored) });
  });
});

describe('Postgres unreachable during a write-behind flush', () => {
  it('flushDirty() fails with L3_UNAVAILABLE, the writes stay queued, and land once Postgres is back', async () => {
    const t = new Tally('faults', 'postgres: connections cut + refused under write-behind flush');
    const schema = env.store.schema('write-behind');
    const strata = strataThroughProxy({ writeBehind: true, stream: `${env.store.name}:wb` });
    for (let i = 0; i < 40; i++) {
      const id = `wb-${i % 8}`;
      const r = await t.run(strata.set(schema, { id, n: i }), DEADLINE);
      expect(codeOf(r)).toBe('OK');
      t.acked(id, i);
    }
    env.proxy.refuse(true);
    t.fault(1 + env.proxy.cutAll());
    const f = await t.run(strata.flushDirty(), DEADLINE);
    expect(codeOf(f)).toBe('L3_UNAVAILABLE');
    expect(strata.stats().deadLettered).toBe(0);
    expect([...(await env.store.stored()).keys()].filter((id) => id.startsWith('wb-'))).toEqual([]);

    env.proxy.refuse(false);
    const again = await t.run(strata.flushDirty(), 10_000);
    expect(codeOf(again)).toBe('OK');
    const stored = await env.store.stored();
    expect(t.missing(stored)).toEqual([]);
    expect(t.hangs).toBe(0);
    expect(t.unhandledRejections).toBe(0);
    t.finish({ writesFound: t.found(stored) });
  });
});

describe('a transaction abandoned with its COMMIT stuck in the network', () => {
  it('is rolled back by Postgres (createStrata sets idle_in_transaction_session_timeout), never committed late', async () => {
    const t = new Tally('faults', 'postgres: COMMIT held past TX_TIMEOUT, createStrata pool');
    const app = `strata_held_${env.store.name}`.slice(0, 60);
    const url = new URL(env.proxy.url(env.store.databaseUrl));
    url.searchParams.set('application_name', app);
    const schema = env.store.schema();
    const { strata, shutdown } = await storeStrata(env.store, url.toString(), {
      schemas: [schema],
      timeouts: { l3: L3_TIMEOUT },
      idleInTransactionTimeout: 500,
    });
    try {
      const first = await outsideFault(t, () => strata.set(schema, { id: 'held-commit', n: 1 }));
      expect(codeOf(first)).toBe('OK');
      t.acked('held-commit', 1);
      env.proxy.trap({ direction: 'up', match: (b) => /commit/i.test(b.toString('latin1')), action: 'hold' });
      t.fault();
      // A set and a delete: two statements, so a real BEGIN … COMMIT.
      const tx = await t.run(
        strata.tx().set(schema, { id: 'held-commit', n: 2 }).delete(schema, 'held-commit-b').commit(),
        DEADLINE,
      );
      expect(codeOf(tx)).toBe('TX_TIMEOUT');
      // Postgres ends the session that waits in its transaction for the COMMIT the proxy holds.
      await vi.waitFor(
        async () => {
          const { rows } = await env.store.pool.query(
            "select count(*)::int as n from pg_stat_activity where application_name = $1 and state like 'idle in transaction%'",
            [app],
          );
          expect(rows[0].n).toBe(0);
        },
        { timeout: 5_000, interval: 50 },
      );
      env.proxy.resume(); // the COMMIT arrives late, at a session that is gone
      expect((await env.store.stored()).get('held-commit')).toBe(1);
      const read = await t.run(strata.get(schema, 'held-commit'), DEADLINE);
      expect('ok' in read && read.ok && read.value.n).toBe(1);
      const stored = await env.store.stored();
      expect(t.missing(stored)).toEqual([]);
      expect(t.hangs).toBe(0);
      expect(t.unhandledRejections).toBe(0);
      t.finish({ writesFound: t.found(stored) });
    } finally {
      await shutdown();
    }
  });
});

describe('shutdown while the network holds a reply', () => {
  it('createStrata’s shutdown() still returns: the pool’s end is bounded', async () => {
    const t = new Tally('faults', 'postgres: reply held during shutdown, createStrata pool');
    const schema = env.store.schema();
    const { strata, shutdown } = await storeStrata(env.store, env.proxy.url(env.store.databaseUrl), {
      schemas: [schema],
      timeouts: { l3: L3_TIMEOUT },
    });
    // The read's own select (it names the table's schema), not the one asking which database this is.
    env.proxy.trap({
      direction: 'up',
      match: (b) => /select/i.test(b.toString('latin1')) && b.includes(`"${env.store.name}"`),
      action: 'hold',
    });
    t.fault();
    const read = await t.run(strata.get(schema, 'never-answered'), DEADLINE);
    expect(codeOf(read)).toBe('L3_UNAVAILABLE');
    const done = await settleBy(shutdown(), 8_000);
    expect(done).toEqual({ ok: true, value: undefined });
    env.proxy.resume();
    expect(t.hangs).toBe(0);
    t.finish({});
  }, 15_000);
});
