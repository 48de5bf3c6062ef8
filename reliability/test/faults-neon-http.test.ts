import { neon, neonConfig } from '@neondatabase/serverless';
import { isStrataError, type L2Tier, Strata } from '@strata/core';
import { manualClock } from '@strata/core/driver';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { createUpstashL2 } from '@strata/core/upstash';
import { neonLocalConfig } from '@strata/devstack';
import { testDevstack } from '@strata/devstack/testing';
import { drizzle as drizzleNeonHttp } from 'drizzle-orm/neon-http';
import { describe, expect, it } from 'vitest';
import { DROP } from '../../packages/core/src/l2/drop-scripts.js';
import { codeOf, type Outcome, settleBy, Tally } from '../support/fault-harness.js';
import { httpFaultSuite } from '../support/http-fault-suite.js';
import { BUSY_TIMEOUT, pastLoad, timedOut } from '../support/past-load.js';
import { watchedScripts } from '../support/watched-scripts.js';

// The devstack's Neon HTTP SQL endpoint (real Postgres behind it) reached through a loopback HTTP
// proxy that answers 5xx itself or holds requests unanswered; Strata's L3 is drizzle neon-http on
// that proxy (transactions as one `db.batch` request). L2 is the devstack's Upstash, reached
// directly; the tests check Postgres itself through a direct node-postgres pool.

const L3_TIMEOUT = 400;
/**
 * Longest any single call may take under an L3 fault: 7.5 L3 timeouts, far past what a busy machine
 * adds to one. A held request is never answered until the fault ends: a call that waited for it
 * would reach this deadline (a hang), however busy the machine.
 */
const DEADLINE = 3_000;

const suite = httpFaultSuite(
  'faults_neon_http',
  () => testDevstack().neon.httpUrl,
  // This file's worker only: every neon() query goes to the proxy.
  (_proxy) =>
    Object.assign(
      neonConfig,
      neonLocalConfig({ httpUrl: suite.proxy.url, wsHost: testDevstack().neon.wsHost }),
    ),
);
const { instances } = suite;

/** The devstack's Upstash endpoint. */
function upstashOf() {
  const { upstash } = testDevstack();
  if (!upstash) throw new Error('the devstack has no Upstash endpoint (Redis unavailable)');
  return { url: upstash.url, token: upstash.token };
}

/**
 * Strata with neon-http through the proxy as L3 (timeout `l3Timeout`), and the real Upstash as L2
 * (or `l2`, over it).
 */
function strataOverNeon(l2: L2Tier = createUpstashL2(upstashOf()), l3Timeout = L3_TIMEOUT) {
  const strata = new Strata({
    l2,
    l3: createDrizzleL3(drizzleNeonHttp(neon(testDevstack().neon.connectionString)), {
      migrationsSchema: suite.store.name,
    }),
    clock: manualClock(Date.now()),
    keyPrefix: suite.store.name,
    timeouts: { l2: '1s', l3: l3Timeout },
    schemas: [suite.store.schema()],
  });
  instances.push(strata);
  return strata;
}

const nOf = (r: Outcome<{ n: number }>) => ('ok' in r && r.ok ? r.value.n : codeOf(r));

/**
 * Writes acknowledged through the proxy: `count` ids of prefix `p`, each `n`, written and read back
 * by `seeder` (an instance with `BUSY_TIMEOUT`: the seeds are not what a case tests, and must not
 * fail on a busy machine), so they are cached in L2; then read by `strata`, from L2 into its L1.
 */
async function seed(t: Tally, seeder: Strata, strata: Strata, p: string, count: number, n: number) {
  const schema = suite.store.schema();
  for (let i = 0; i < count; i++) {
    const r = await t.run(seeder.set(schema, { id: `${p}-${i}`, n }), BUSY_TIMEOUT + DEADLINE);
    expect(codeOf(r), `seed ${p}-${i}`).toBe('OK');
    t.acked(`${p}-${i}`, n);
  }
  for (const s of [seeder, strata]) {
    for (let i = 0; i < count; i++) {
      const r = await t.run(s.get(schema, `${p}-${i}`), BUSY_TIMEOUT + DEADLINE);
      expect(nOf(r), `seed read ${p}-${i}`).toBe(n);
    }
  }
}

/** A step outside the fault (a seed, a write after it) through a short-timeout instance (see `pastLoad`). */
const outsideFault = <T>(t: Tally, call: () => Promise<T>) => pastLoad(call, (work) => t.run(work, DEADLINE));

type Fault = { kind: 'status'; status: number } | { kind: 'hang' };
const FAULTS: [string, Fault][] = [
  ['500', { kind: 'status', status: 500 }],
  ['503', { kind: 'status', status: 503 }],
  ['hanging', { kind: 'hang' }],
];

describe.each(FAULTS)('Neon HTTP endpoint %s', (label, fault) => {
  it('cached reads answer the last acknowledged value; uncached reads, writes and transactions fail fast, typed; nothing acknowledged is lost', async () => {
    const hang = fault.kind === 'hang';
    // A hang ends at the L3 timeout, which only it can reach. A 5xx ends the call as soon as it
    // comes back: that instance's timeout is one no answer misses on a busy machine, so a call that
    // ends by a timeout there (TIMEOUT / TX_TIMEOUT below) waited past the 5xx it had been sent.
    const l3Timeout = hang ? L3_TIMEOUT : BUSY_TIMEOUT;
    const t = new Tally(
      'faults',
      `neon http: endpoint ${label} (drizzle neon-http L3, timeout ${l3Timeout} ms)`,
    );
    const schema = suite.store.schema();
    const p = `nh${label}`;
    const strata = strataOverNeon(undefined, l3Timeout);
    await seed(t, strataOverNeon(undefined, BUSY_TIMEOUT), strata, p, 10, 1);
    // One write of its own (the value it has), so the instance under the fault holds its writer claim.
    expect(codeOf(await outsideFault(t, () => strata.set(schema, { id: `${p}-0`, n: 1 })))).toBe('OK');

    suite.proxy.set({ fault });
    t.fault();
    const faulted = () => suite.proxy.stats()[hang ? 'hung' : 'failed'];
    const faultedBefore = faulted();
    // Every hung call costs the full L3 timeout: fewer rounds keep the file fast.
    const rounds = hang ? 3 : 5;
    /**
     * Whether a failed call ended by its own timeout (a hang) or by the 5xx (not a timeout): the
     * evidence that it waited for neither a held request nor past an answer, on any machine load.
     */
    const endedBy = (r: Outcome<unknown>, what: string) => {
      if ('ok' in r && !r.ok) expect(timedOut(r), `${what}: ended by its own L3 timeout`).toBe(hang);
    };
    const reader = strataOverNeon(undefined, l3Timeout); // empty L1: answers from L2
    for (let i = 0; i < rounds; i++) {
      // Not written during the fault: cached (L1 here, L2 for the reader), the last acknowledged value.
      const cached = `${p}-${5 + i}`;
      expect(nOf(await t.run(strata.get(schema, cached), DEADLINE)), cached).toBe(1);
      expect(nOf(await t.run(reader.get(schema, cached), DEADLINE)), cached).toBe(1);

      // The write Postgres never got: a typed error by its deadline.
      const id = `${p}-${i}`;
      const w = await t.run(strata.set(schema, { id, n: 2 }), DEADLINE);
      expect(codeOf(w), `set ${id}`).toBe('L3_UNAVAILABLE');
      endedBy(w, `set ${id}`);
      // Its id: the last acknowledged value, or (the outcome being unknown to the client, its cached
      // copies dropped) a typed error; never the refused value, never a hang.
      for (const s of [strata, reader]) {
        const r = await t.run(s.get(schema, id), DEADLINE);
        expect([1, 'L3_UNAVAILABLE'], `get ${id} after the failed set`).toContain(nOf(r));
        endedBy(r, `get ${id}`);
      }

      // Not cached: a typed error, by the deadline.
      const miss = await t.run(strata.get(schema, `${p}-missing-${i}`), DEADLINE);
      expect(codeOf(miss)).toBe('L3_UNAVAILABLE');
      endedBy(miss, 'uncached get');
      const found = await t.run(strata.find(schema, `${p}-missing-${i}`), DEADLINE);
      expect(codeOf(found)).toBe('L3_UNAVAILABLE');
      endedBy(found, 'uncached find');
    }
    expect(reader.stats().hits.l2).toBeGreaterThanOrEqual(rounds);
    expect(strata.stats().errorsBy.l3).toBeGreaterThanOrEqual(3 * rounds);

    // A transaction (one db.batch request): TX_FAILED on a 5xx, TX_TIMEOUT when held.
    const tx = await t.run(
      strata
        .tx()
        .set(schema, { id: `${p}-5`, n: 3 })
        .set(schema, { id: `${p}-6`, n: 3 })
        .commit(),
      DEADLINE,
    );
    expect(codeOf(tx)).toBe(hang ? 'TX_TIMEOUT' : 'TX_FAILED');
    endedBy(tx, 'tx');
    const deleted = await t.run(strata.delete(schema, `${p}-7`), DEADLINE);
    expect(codeOf(deleted)).toBe('L3_UNAVAILABLE');
    endedBy(deleted, 'delete');
    // Every one of those reached the endpoint (set, uncached get, find per round; the tx; the delete).
    expect(faulted() - faultedBefore).toBeGreaterThanOrEqual(3 * rounds + 2);

    // Held requests are dropped (they never reach Postgres), the endpoint answers again. Every
    // request held in the fault is held still: none was answered, so no call above ended by an answer.
    expect(suite.proxy.release('reset')).toBe(hang ? faulted() - faultedBefore : 0);
    suite.proxy.pass();
    // Postgres has exactly what was acknowledged; the failed writes are in no cache and not in L3.
    const stored = await suite.store.stored();
    for (let i = 0; i < 10; i++) expect(stored.get(`${p}-${i}`)).toBe(1);
    const fresh = strataOverNeon(undefined, BUSY_TIMEOUT);
    for (let i = 0; i < 10; i++) {
      expect(nOf(await outsideFault(t, () => strata.get(schema, `${p}-${i}`)))).toBe(1);
      expect(nOf(await t.run(fresh.get(schema, `${p}-${i}`), BUSY_TIMEOUT + DEADLINE))).toBe(1);
    }
    // Writes work again (the same instance), and are found. A retried write writes the same value.
    for (let i = 0; i < 5; i++) {
      const w = await outsideFault(t, () => strata.set(schema, { id: `${p}-${i}`, n: 4 }));
      expect(codeOf(w)).toBe('OK');
      t.acked(`${p}-${i}`, 4);
    }
    const okTx = await outsideFault(t, () =>
      strata
        .tx()
        .set(schema, { id: `${p}-tx`, n: 5 })
        .commit(),
    );
    expect(codeOf(okTx)).toBe('OK');
    t.acked(`${p}-tx`, 5);
    await new Promise((resolve) => setTimeout(resolve, 50));

    const after = await suite.store.stored();
    expect(t.missing(after)).toEqual([]);
    expect(t.hangs).toBe(0);
    expect(t.unhandledRejections).toBe(0);
    t.finish({ writesFound: t.found(after) });
  });
});

describe('Neon HTTP endpoint flapping under load', () => {
  it('every acknowledged write is in Postgres; every refused one is in no tier', async () => {
    const t = new Tally('faults', 'neon http: every third request answers 503, write-through + tx load');
    const schema = suite.store.schema();
    // No request is held: a write refused here is refused by a 503, never by a timeout on a busy
    // machine (whose write could still land, and be neither refused nor acknowledged).
    const strata = strataOverNeon(undefined, BUSY_TIMEOUT);
    let seen = 0;
    // Every third request to the endpoint fails (by count, so the run is deterministic).
    suite.proxy.set({ fault: { kind: 'status', status: 503 }, match: () => ++seen % 3 === 0 });
    t.fault();
    /** The last value of each id that a caller saw acknowledged. */
    const last = new Map<string, number>();
    let refused = 0;
    for (let i = 0; i < 60; i++) {
      const id = `flap-${i % 6}`;
      const n = i + 1;
      const r =
        i % 5 === 4
          ? await t.run(
              strata
                .tx()
                .set(schema, { id, n })
                .set(schema, { id: `${id}-pair`, n })
                .commit(),
              DEADLINE,
            )
          : await t.run(strata.set(schema, { id, n }), DEADLINE);
      if (codeOf(r) === 'OK') {
        t.acked(id, n);
        last.set(id, n);
        if (i % 5 === 4) {
          t.acked(`${id}-pair`, n);
          last.set(`${id}-pair`, n);
        }
      } else {
        refused++;
        expect(codeOf(r)).toBe(i % 5 === 4 ? 'TX_FAILED' : 'L3_UNAVAILABLE');
      }
    }
    expect(refused).toBeGreaterThan(0);
    suite.proxy.pass();
    // Postgres and every cache hold exactly the last acknowledged value of each id.
    const stored = await suite.store.stored();
    const fresh = strataOverNeon(undefined, BUSY_TIMEOUT);
    for (const [id, n] of last) {
      expect(stored.get(id), id).toBe(n);
      expect(nOf(await t.run(strata.get(schema, id), DEADLINE)), id).toBe(n);
      expect(nOf(await t.run(fresh.get(schema, id), DEADLINE)), id).toBe(n);
    }
    expect(t.missing(stored)).toEqual([]);
    expect(t.hangs).toBe(0);
    expect(t.unhandledRejections).toBe(0);
    t.finish({ writesFound: t.found(stored) });
  });
});

describe('Neon HTTP endpoint answering late', () => {
  // A set whose L3 call timed out has an unknown outcome: the held request may still reach Postgres.
  // Its cached copies must not outlive that (write-through.ts drops them at the timeout, and again
  // once the statement settles: `LateWrite`), even when a read between filled the old row back.
  // Synchronised on events (the proxy holding the write, its late reply, the DROP that follows it),
  // never on elapsed time. The L3 timeout is the one clock left: only the held write may reach it,
  // so it is long enough that no call that goes through does on a busy machine.
  const LATE_TIMEOUT = BUSY_TIMEOUT;
  const BOUND = LATE_TIMEOUT + DEADLINE;
  it('a set that timed out and then landed late leaves no stale value in the caches', async () => {
    const schema = suite.store.schema();
    const l2 = watchedScripts(createUpstashL2(upstashOf()));
    const strata = strataOverNeon(l2, LATE_TIMEOUT);
    expect(codeOf(await settleBy(strata.set(schema, { id: 'late', n: 1 }), BOUND))).toBe('OK');
    expect(codeOf(await settleBy(strata.get(schema, 'late'), BOUND))).toBe('OK');
    // Only the write of 'late' is held: a writer-claim renewal the set may send beside it (due 20 s
    // after the app's last claim, so whether it does depends on how long the file has run) goes through.
    let carrying = 0;
    suite.proxy.set({
      fault: { kind: 'hang' },
      match: (body) => body.includes('"late"') && ++carrying === 1,
    });
    const w = await settleBy(strata.set(schema, { id: 'late', n: 2 }), BOUND);
    expect(codeOf(w)).toBe('L3_UNAVAILABLE');
    if ('ok' in w && !w.ok) expect(isStrataError((w.error as Error).cause, 'TIMEOUT')).toBe(true);
    // Dropped at the timeout (awaited before the set failed).
    const drops = l2.settled(DROP.name);
    expect(drops).toBeGreaterThanOrEqual(1);
    // On a busy machine the write may reach the proxy only after its caller timed out.
    expect(await settleBy(suite.proxy.held(1), BOUND)).toEqual({ ok: true, value: undefined });
    // A read before the late commit fills the old row back (L1; L2 keeps the drop's version floor).
    expect(nOf(await settleBy(strata.get(schema, 'late'), BOUND))).toBe(1);
    suite.proxy.pass();
    expect(suite.proxy.release('forward')).toBe(1);
    // The late request commits: its reply has come back from the endpoint.
    await suite.proxy.forwarded();
    expect((await suite.store.stored()).get('late')).toBe(2);
    // Once the statement settles here, its keys are dropped again (L1, then L2's DROP): waited for
    // as that DROP, not by `settled()`, which stops waiting for work older than its deadlines.
    expect(await settleBy(l2.until(DROP.name, drops + 1), BOUND)).toEqual({ ok: true, value: undefined });
    const fresh = strataOverNeon(undefined, LATE_TIMEOUT);
    expect(nOf(await settleBy(fresh.get(schema, 'late'), BOUND))).toBe(2);
    expect(nOf(await settleBy(strata.get(schema, 'late'), BOUND))).toBe(2);
  });
});
