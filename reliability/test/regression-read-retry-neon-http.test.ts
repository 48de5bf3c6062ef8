import { neon, neonConfig } from '@neondatabase/serverless';
import { Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { neonLocalConfig } from '@strata/devstack';
import { testDevstack } from '@strata/devstack/testing';
import { drizzle as drizzleNeonHttp } from 'drizzle-orm/neon-http';
import { describe, expect, it, vi } from 'vitest';
import { codeOf, settleBy } from '../support/fault-harness.js';
import { httpFaultSuite } from '../support/http-fault-suite.js';

// Helper "retry": the neon-http side of regression-read-retry-cut. Over HTTP a cut is the request's
// connection reset before an answer: neon-http rejects with NeonDbError "Error connecting to
// database: TypeError: fetch failed" (its `sourceError`; undici's cause: SocketError "other side
// closed", UND_ERR_SOCKET). Before the fix a read cut so failed at once:
//   get after its request was reset: expected 'L3_UNAVAILABLE' to be 'OK'
// Now it is sent once more (engine/read-retry.ts, the same code for every L3), and a write is not.
// An HTTP 5xx is an answer, not a cut: not retried (faults-neon-http.test.ts).

const L3_TIMEOUT = 1_000;
const suite = httpFaultSuite(
  'read_retry_nh',
  () => testDevstack().neon.httpUrl,
  // This file's worker only: every neon() query goes to the proxy.
  (proxy) =>
    Object.assign(neonConfig, neonLocalConfig({ httpUrl: proxy.url, wsHost: testDevstack().neon.wsHost })),
);

function strataOverNeon() {
  const strata = new Strata({
    l3: createDrizzleL3(drizzleNeonHttp(neon(testDevstack().neon.connectionString)), {
      migrationsSchema: suite.store.name,
    }),
    keyPrefix: suite.store.name,
    timeouts: { l3: L3_TIMEOUT },
    schemas: [suite.store.schema()],
  });
  suite.instances.push(strata);
  return strata;
}

/** Holds the first `times` requests whose body names `token`; passes the rest. */
function holdFirst(token: string, times: number) {
  let seen = 0;
  suite.proxy.set({ fault: { kind: 'hang' }, match: (body) => body.includes(token) && ++seen <= times });
  return { requests: () => seen };
}

/** Resets each held request as it arrives (the client sees its connection cut), `times` in all. */
async function resetHeld(times: number) {
  for (let i = 0; i < times; i++) {
    await vi.waitFor(() => expect(suite.proxy.hanging).toBe(1), { timeout: 2_000, interval: 5 });
    expect(suite.proxy.release('reset')).toBe(1);
  }
}

describe('neon-http: a request reset before its answer', () => {
  it('a read is sent once more and answers; cut twice it fails with L3_UNAVAILABLE', async () => {
    const schema = suite.store.schema();
    await suite.store.pool.query(
      `insert into "${suite.store.name}".items (id, n) values ('nh-a', 5), ('nh-b', 6)`,
    );
    const strata = strataOverNeon();

    const once = holdFirst('nh-a', 1);
    const read = settleBy(strata.get(schema, 'nh-a'), 3_000);
    await resetHeld(1);
    const got = await read;
    expect(codeOf(got), 'get after its request was reset').toBe('OK');
    expect('ok' in got && got.ok && got.value.n).toBe(5);
    expect(once.requests(), 'the read went out twice').toBe(2);
    expect(strata.stats().l3ReadRetries).toBe(1);

    const twice = holdFirst('nh-b', 3);
    const failing = settleBy(strata.get(schema, 'nh-b'), 3_000);
    await resetHeld(2);
    expect(codeOf(await failing)).toBe('L3_UNAVAILABLE');
    expect(twice.requests(), 'no third try').toBe(2);
    expect(strata.stats().l3ReadRetries).toBe(2);
  });

  it('a write is not sent again', async () => {
    const strata = strataOverNeon();
    // Warm: the writer claim is made before the fault.
    expect(codeOf(await settleBy(strata.set(suite.store.schema(), { id: 'nh-warm', n: 0 }), 3_000))).toBe(
      'OK',
    );
    const held = holdFirst('nh-w', 2);
    const write = settleBy(strata.set(suite.store.schema(), { id: 'nh-w', n: 1 }), 3_000);
    await resetHeld(1);
    expect(codeOf(await write)).toBe('L3_UNAVAILABLE');
    expect(held.requests(), 'one request named the write').toBe(1);
    expect(strata.stats().l3ReadRetries).toBe(0);
    expect((await suite.store.stored()).has('nh-w')).toBe(false);
  });
});
