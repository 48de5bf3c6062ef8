import { releaseEndedClients } from '@strata/adapter-node';
import { Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { drizzle } from 'drizzle-orm/node-postgres';
import { describe, expect, it, vi } from 'vitest';
import { codeOf, proxiedStore, quietPool, settleBy, storeStrata } from '../support/fault-harness.js';
import { BUSY_TIMEOUT } from '../support/past-load.js';
import { recordingLogger } from '../support/probe-evidence.js';

// Helper "huntpg": a connection cut as a transaction's BEGIN goes out. Drizzle's node-postgres (and
// neon-serverless) `db.transaction` checks a client out of the pool, sends BEGIN, and releases the
// client in a `finally` that BEGIN's failure never reaches: the dead client stayed checked out for
// good. After `maxConnections` such cuts every L3 call waited for a free client until its timeout:
// Postgres was up, Strata's L3 was down until a restart, and shutdown() waited 5 s for the pool.
// Now createStrata's pool releases (and drops) a checked-out client whose connection ends, and
// `releaseEndedClients(pool)` does it to a pool built by hand.

// Past what a busy machine reaches (at 500 ms a transaction after the cuts timed out at load ~40);
// a pool that kept its dead clients still fails every call by it. HANG only catches a hang.
const L3_TIMEOUT = BUSY_TIMEOUT;
const HANG = 7 * L3_TIMEOUT;
const MAX = 2;

// A store per test: one app writes a table (the write-behind one claims it).
const env = proxiedStore('reg_pool_begin', { storePerTest: true });

const isBegin = (b: Buffer) => /\bbegin\b/i.test(b.toString('latin1'));

describe('connections cut at BEGIN', () => {
  for (const mode of ['write-through', 'write-behind'] as const)
    it(`${mode}: the pool gets its clients back; later writes commit, flushes land, shutdown is prompt`, async () => {
      const schema = env.store.schema(mode);
      const { logger, lines } = recordingLogger();
      const { strata, shutdown } = await storeStrata(env.store, env.proxy.url(env.store.databaseUrl), {
        logger,
        schemas: [schema],
        maxConnections: MAX,
        timeouts: { l3: L3_TIMEOUT },
        allowVolatileQueue: true,
      });
      try {
        const id = (k: string) => `${mode}-${k}`;
        // Each round: one transaction (two statements: a real BEGIN … COMMIT) cut at its BEGIN.
        for (let round = 0; round < MAX; round++) {
          const fired = env.proxy.trap({ direction: 'up', match: isBegin, action: 'cut' });
          const tx = await settleBy(
            strata
              .tx()
              .set(schema, { id: id('a'), n: round })
              .delete(schema, id('b'))
              .commit(),
            HANG,
          );
          expect(await settleBy(fired, HANG), `round ${round}: the cut fired`).toEqual({
            ok: true,
            value: undefined,
          });
          expect(codeOf(tx), `round ${round}`).toBe('TX_FAILED');
        }
        // The pool still has clients: a write and a transaction commit.
        expect(
          codeOf(await settleBy(strata.set(schema, { id: id('c'), n: 1 }), HANG)),
          'a set after the cuts',
        ).toBe('OK');
        expect(
          codeOf(
            await settleBy(
              strata
                .tx()
                .set(schema, { id: id('a'), n: 9 })
                .delete(schema, id('b'))
                .commit(),
              HANG,
            ),
          ),
          'a transaction after the cuts',
        ).toBe('OK');
        if (mode === 'write-behind') expect(codeOf(await settleBy(strata.flushDirty(), HANG))).toBe('OK');
        const stored = await env.store.stored();
        expect([stored.get(id('a')), stored.get(id('c'))]).toEqual([9, 1]);
        expect((await strata.get(schema, id('a'))).n).toBe(9);
      } catch (err) {
        await shutdown();
        throw err;
      }
      await shutdown();
      // A client checked out for good keeps pool.end() pending until shutdown's bound (5 s) ends it
      // with this warning; told by it, not by a wall-clock bound CI's load stretches.
      expect(
        lines.filter((l) => l.message === 'L3 pool did not end in time'),
        'shutdown() did not wait for a checked-out dead client',
      ).toEqual([]);
    });
});

describe('a pool built by hand, with releaseEndedClients', () => {
  it('gets its clients back after cuts at BEGIN', async () => {
    const pool = quietPool(env.proxy.url(env.store.databaseUrl), MAX);
    releaseEndedClients(pool);
    const schema = env.store.schema();
    const strata = new Strata({
      l3: createDrizzleL3(drizzle(pool), { migrationsSchema: env.store.name }),
      keyPrefix: env.store.name,
      timeouts: { l3: L3_TIMEOUT },
      schemas: [schema],
    });
    try {
      for (let round = 0; round < MAX; round++) {
        void env.proxy.trap({ direction: 'up', match: isBegin, action: 'cut' });
        const tx = await settleBy(
          strata.tx().set(schema, { id: 'a', n: round }).delete(schema, 'b').commit(),
          HANG,
        );
        expect(codeOf(tx), `round ${round}`).toBe('TX_FAILED');
      }
      // Given back as its connection's end is heard (the socket's close, after the query's error).
      await vi.waitFor(() => expect(pool.totalCount - pool.idleCount, 'clients checked out').toBe(0), {
        timeout: HANG,
        interval: 10,
      });
      expect(codeOf(await settleBy(strata.set(schema, { id: 'c', n: 1 }), HANG))).toBe('OK');
    } finally {
      await strata.close();
      await settleBy(pool.end(), HANG);
    }
  });
});
