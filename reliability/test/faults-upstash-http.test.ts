import { Strata } from '@strata/core';
import { type ManualClock, manualClock } from '@strata/core/driver';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { createUpstashL2 } from '@strata/core/upstash';
import { testDevstack } from '@strata/devstack/testing';
import { describe, expect, it } from 'vitest';
import { codeOf, settleBy, Tally } from '../support/fault-harness.js';
import { httpFaultSuite } from '../support/http-fault-suite.js';

// The devstack's Upstash REST endpoint (real Redis behind it) reached through a loopback HTTP proxy
// that answers 500/503 itself or holds requests unanswered, while Strata works through it. L3 is
// the real Postgres, reached directly.

const L2_TIMEOUT = 250;
/**
 * Longest any single call may take, under an L2 fault or not: 20 L2 timeouts (its own, Postgres, and
 * what a busy machine adds: at a load average of 58 on 2 cores a set after the fault took past 2 s).
 * A held request is never answered: a call that waited for it would reach this (a hang).
 */
const DEADLINE = 20 * L2_TIMEOUT;
const COOLDOWN = 5_000;
const THRESHOLD = 3;

/** The devstack's Upstash endpoint (the one behind the proxy). */
function upstashEndpoint(): { url: string; token: string } {
  const upstash = testDevstack().upstash;
  if (!upstash) throw new Error('the devstack has no Upstash endpoint (Redis unavailable)');
  return upstash;
}

const suite = httpFaultSuite('faults_upstash', () => upstashEndpoint().url);
const { instances } = suite;

/** Strata whose L2 is Upstash through the proxy (no client retries: the engine's timeout and breaker rule). */
function strataOver(clock: ManualClock) {
  const strata = new Strata({
    l2: createUpstashL2({ url: suite.proxy.url, token: upstashEndpoint().token, retry: false } as never),
    l3: createDrizzleL3(suite.store.db, { migrationsSchema: suite.store.name }),
    clock,
    keyPrefix: suite.store.name,
    timeouts: { l2: L2_TIMEOUT, l3: '5s' },
    breaker: { failureThreshold: THRESHOLD, cooldown: COOLDOWN },
    schemas: [suite.store.schema()],
  });
  instances.push(strata);
  return strata;
}

/** A write-through set that must be acknowledged by its deadline; recorded as acknowledged. */
async function ackedSet(t: Tally, strata: Strata, id: string, n: number): Promise<void> {
  const r = await t.run(strata.set(suite.store.schema(), { id, n }), DEADLINE);
  expect(codeOf(r), `set ${id}=${n}`).toBe('OK');
  t.acked(id, n);
}

/** A get that must answer by its deadline with Postgres's value. */
async function readsStored(t: Tally, strata: Strata, id: string, stored: ReadonlyMap<string, number>) {
  const r = await t.run(strata.get(suite.store.schema(), id), DEADLINE);
  expect(codeOf(r), `get ${id}`).toBe('OK');
  if ('ok' in r && r.ok) expect(r.value.n, `get ${id}`).toBe(stored.get(id));
}

describe.each([500, 503])('Upstash answering %i', (status) => {
  it('reads answer from Postgres, writes commit, errors are counted, the breaker opens, half-opens and closes', async () => {
    const t = new Tally('faults', `upstash http: endpoint answers ${status}, write-through load`);
    const p = `s${status}`;
    const clock = manualClock(Date.now());
    const strata = strataOver(clock);
    let n = 0;
    const failedBefore = suite.proxy.stats().failed;
    for (let i = 0; i < 10; i++) await ackedSet(t, strata, `${p}-${i}`, ++n);
    // No fault yet: the endpoint failed nothing and the breaker never opened. (Not "no L2 error":
    // on a loaded machine a cold first call may outlast the 250 ms L2 timeout, 1 run in 3 at load 12.)
    expect(suite.proxy.stats().failed).toBe(failedBefore);
    expect(strata.stats().l2Breaker).toMatchObject({ state: 'closed', opens: 0 });

    suite.proxy.set({ fault: { kind: 'status', status } });
    t.fault();
    const before = suite.proxy.stats();
    // Writes commit to Postgres although every L2 call fails.
    for (let round = 0; round < 3; round++)
      for (let i = 0; i < 10; i++) await ackedSet(t, strata, `${p}-${i}`, ++n);
    const during = suite.proxy.stats();
    // Only the calls up to the threshold reached the endpoint; the rest were refused by the breaker.
    expect(during.failed - before.failed).toBe(THRESHOLD);
    expect(during.requests - before.requests).toBe(THRESHOLD);
    const s1 = strata.stats();
    expect(s1.l2Breaker).toMatchObject({ state: 'open', opens: 1 });
    expect(s1.l2Breaker!.rejected).toBeGreaterThanOrEqual(30 - THRESHOLD);
    expect(s1.errorsBy.l2).toBeGreaterThanOrEqual(THRESHOLD);
    const stored = await suite.store.stored();
    for (let i = 0; i < 10; i++) expect(stored.get(`${p}-${i}`)).toBe(n - 9 + i);

    // A fresh instance (empty L1) answers every read from Postgres, right, by its deadline.
    const reader = strataOver(clock);
    for (let i = 0; i < 10; i++) await readsStored(t, reader, `${p}-${i}`, stored);
    expect(reader.stats().hits.l3).toBe(10);
    expect(reader.stats().l2Breaker!.state).toBe('open');
    // And a read of an id nowhere answers "not found", not an L2 error.
    const absent = await t.run(reader.find(suite.store.schema(), `${p}-absent`), DEADLINE);
    expect(absent).toEqual({ ok: true, value: null });

    // While open: refusals grow, and not one request reaches the endpoint.
    const openAt = suite.proxy.stats().requests;
    const rejected = strata.stats().l2Breaker!.rejected;
    for (let i = 0; i < 10; i++) await ackedSet(t, strata, `${p}-${i}`, ++n);
    expect(suite.proxy.stats().requests).toBe(openAt);
    expect(strata.stats().l2Breaker!.rejected).toBeGreaterThan(rejected);

    // Cool-down over, still failing: exactly one trial call goes out, fails, and the breaker reopens.
    clock.advance(COOLDOWN);
    expect(strata.stats().l2Breaker!.state).toBe('half-open');
    await ackedSet(t, strata, `${p}-0`, ++n);
    expect(suite.proxy.stats().requests).toBe(openAt + 1);
    expect(strata.stats().l2Breaker).toMatchObject({ state: 'open', opens: 2 });

    // Endpoint back: after the cool-down the trial succeeds and the breaker closes; L2 is used again.
    suite.proxy.pass();
    clock.advance(COOLDOWN);
    expect(strata.stats().l2Breaker!.state).toBe('half-open');
    await ackedSet(t, strata, `${p}-back`, ++n);
    expect(strata.stats().l2Breaker).toMatchObject({ state: 'closed', opens: 2 });
    const third = strataOver(clock);
    const r = await t.run(third.get(suite.store.schema(), `${p}-back`), DEADLINE);
    expect(codeOf(r)).toBe('OK');
    expect(third.stats().hits.l2).toBe(1);

    const after = await suite.store.stored();
    expect(t.missing(after)).toEqual([]);
    expect(t.hangs).toBe(0);
    expect(t.unhandledRejections).toBe(0);
    t.finish({ writesFound: t.found(after) });
  });
});

describe('Upstash hanging (requests held, never answered)', () => {
  it('every call settles by its own L2 timeout, from Postgres, its requests still held; the breaker opens and closes', async () => {
    const t = new Tally('faults', 'upstash http: endpoint holds every request (timeout 250 ms)');
    const clock = manualClock(Date.now());
    const strata = strataOver(clock);
    let n = 0;
    for (let i = 0; i < 20; i++) await ackedSet(t, strata, `hang-${i}`, ++n);

    const hungBefore = suite.proxy.stats().hung;
    suite.proxy.set({ fault: { kind: 'hang' } });
    t.fault();
    const reader = strataOver(clock);
    for (let i = 0; i < 20; i++) {
      const id = `hang-${i % 5}`;
      const v = ++n;
      // Nothing waits for Upstash: each call settles by its deadline, the requests it sent unanswered.
      await ackedSet(t, strata, id, v);
      // Each id read once: the reader's L1 (no invalidation bus here) would rightly keep its first copy.
      await readsStored(t, reader, `hang-${i}`, await suite.store.stored());
      expect(suite.proxy.hanging, 'every request of the fault still held').toBe(
        suite.proxy.stats().hung - hungBefore,
      );
    }
    // Each instance sent THRESHOLD calls before its breaker opened; all of them are still held: every
    // call settled with no answer from Upstash, by its own timeout (counted in errorsBy).
    expect(suite.proxy.hanging).toBe(2 * THRESHOLD);
    for (const s of [strata, reader]) {
      expect(s.stats().l2Breaker).toMatchObject({ state: 'open', opens: 1 });
      expect(s.stats().errorsBy.l2).toBeGreaterThanOrEqual(THRESHOLD);
    }

    // The held requests are reset: their late failures must surface nowhere (no unhandled rejection).
    expect(suite.proxy.release('reset')).toBe(2 * THRESHOLD);
    suite.proxy.pass();
    clock.advance(COOLDOWN);
    await ackedSet(t, strata, 'hang-0', ++n);
    expect(strata.stats().l2Breaker).toMatchObject({ state: 'closed', opens: 1 });
    // Give the resets' rejections a turn to surface as unhandled, if they were going to.
    await new Promise((resolve) => setTimeout(resolve, 50));

    const stored = await suite.store.stored();
    expect(t.missing(stored)).toEqual([]);
    expect(t.hangs).toBe(0);
    expect(t.unhandledRejections).toBe(0);
    t.finish({ writesFound: t.found(stored) });
  });

  it('the breaker refuses a half-open second call while the trial is held, and reopens when the trial times out', async () => {
    const t = new Tally('faults', 'upstash http: half-open trial held');
    const clock = manualClock(Date.now());
    const strata = strataOver(clock);
    await ackedSet(t, strata, 'trial', 1);
    suite.proxy.set({ fault: { kind: 'status', status: 503 } });
    t.fault();
    for (let i = 0; i < THRESHOLD; i++) await ackedSet(t, strata, 'trial', 2 + i);
    expect(strata.stats().l2Breaker!.state).toBe('open');

    suite.proxy.set({ fault: { kind: 'hang' } });
    clock.advance(COOLDOWN);
    const sent = suite.proxy.stats().requests;
    // Two writes at once: one takes the trial (held by the endpoint), the other is refused at once.
    const [a, b] = await Promise.all([
      t.run(strata.set(suite.store.schema(), { id: 'trial-a', n: 1 }), DEADLINE),
      t.run(strata.set(suite.store.schema(), { id: 'trial-b', n: 1 }), DEADLINE),
    ]);
    expect([codeOf(a), codeOf(b)]).toEqual(['OK', 'OK']);
    t.acked('trial-a', 1);
    t.acked('trial-b', 1);
    expect(suite.proxy.stats().requests - sent).toBe(1);
    expect(suite.proxy.hanging).toBe(1);
    expect(strata.stats().l2Breaker).toMatchObject({ state: 'open', opens: 2 });
    suite.proxy.release('reset');

    const stored = await suite.store.stored();
    expect(t.missing(stored)).toEqual([]);
    expect(t.hangs).toBe(0);
    expect(t.unhandledRejections).toBe(0);
    t.finish({ writesFound: t.found(stored) });
  });
});

describe('Upstash failing only some commands', () => {
  it('reads (MGET) fail while writes (EVALSHA of the put script) pass: reads answer from Postgres with the right value', async () => {
    const t = new Tally('faults', 'upstash http: only reads answer 500');
    const clock = manualClock(Date.now());
    const writer = strataOver(clock);
    let n = 0;
    for (let i = 0; i < 5; i++) await ackedSet(t, writer, `ro-${i}`, ++n);
    suite.proxy.set({
      fault: { kind: 'status', status: 500 },
      match: (body) => /"mget"/i.test(body),
    });
    t.fault();
    const reader = strataOver(clock);
    const stored = await suite.store.stored();
    for (let i = 0; i < 5; i++) await readsStored(t, reader, `ro-${i}`, stored);
    expect(reader.stats().hits.l3).toBe(5);
    expect(reader.stats().errorsBy.l2).toBeGreaterThanOrEqual(THRESHOLD);
    expect(suite.proxy.stats().failed).toBeGreaterThanOrEqual(THRESHOLD);
    // Writes still reach Upstash (a script): the writer's breaker stays closed.
    for (let i = 0; i < 5; i++) await ackedSet(t, writer, `ro-${i}`, ++n);
    expect(writer.stats().l2Breaker).toMatchObject({ state: 'closed', opens: 0 });
    expect(writer.stats().errorsBy.l2 ?? 0).toBe(0);

    const after = await suite.store.stored();
    expect(t.missing(after)).toEqual([]);
    expect(t.hangs).toBe(0);
    expect(t.unhandledRejections).toBe(0);
    t.finish({ writesFound: t.found(after) });
  });
});

describe('after the outage', () => {
  it('a write acknowledged while Upstash answered 503 is what other instances read once the writer has used L2 again', async () => {
    const t = new Tally('faults', 'upstash http: write during 503, read elsewhere after recovery');
    const clock = manualClock(Date.now());
    const writer = strataOver(clock);
    for (let i = 0; i < 5; i++) await ackedSet(t, writer, `owed-${i}`, 1);
    const early = strataOver(clock);
    for (let i = 0; i < 5; i++) await readsStored(t, early, `owed-${i}`, await suite.store.stored()); // cached in L2 now
    suite.proxy.set({ fault: { kind: 'status', status: 503 } });
    t.fault();
    for (let i = 0; i < 5; i++) await ackedSet(t, writer, `owed-${i}`, 2);
    expect(writer.stats().errorsBy.l2).toBeGreaterThanOrEqual(THRESHOLD);
    suite.proxy.pass();
    clock.advance(COOLDOWN);
    // The writer's next use of L2 (any call) settles what L2 missed.
    const touch = await t.run(writer.find(suite.store.schema(), 'owed-absent'), DEADLINE);
    expect(touch).toEqual({ ok: true, value: null });
    expect(writer.stats().l2Breaker!.state).toBe('closed');
    const other = strataOver(clock);
    const stored = await suite.store.stored();
    for (let i = 0; i < 5; i++) await readsStored(t, other, `owed-${i}`, stored);
    expect(t.missing(stored)).toEqual([]);
    expect(t.hangs).toBe(0);
    expect(t.unhandledRejections).toBe(0);
    t.finish({ writesFound: t.found(stored) });
  });

  // A write acknowledged while L2 refused its update (5xx) may leave the OLDER copy in L2. The
  // schema's generation then moves on at the writer's next L2 call (or its close()):
  // from then, every instance reads Postgres' value once it re-reads the generation (within 5 s).
  it('a write acknowledged while Upstash answered 503: stale in L2 only until the writer next reaches L2', async () => {
    const clock = manualClock(Date.now());
    const writer = strataOver(clock);
    expect(codeOf(await settleBy(writer.set(suite.store.schema(), { id: 'stale', n: 1 }), DEADLINE))).toBe(
      'OK',
    );
    suite.proxy.set({ fault: { kind: 'status', status: 503 } });
    expect(codeOf(await settleBy(writer.set(suite.store.schema(), { id: 'stale', n: 2 }), DEADLINE))).toBe(
      'OK',
    );
    expect((await suite.store.stored()).get('stale')).toBe(2);
    suite.proxy.pass();
    const readFresh = async () => {
      const r = await settleBy(strataOver(clock).get(suite.store.schema(), 'stale'), DEADLINE);
      expect(codeOf(r)).toBe('OK');
      return 'ok' in r && r.ok ? r.value.n : undefined;
    };
    expect(await readFresh()).toBe(1); // the stated window: L2 still has the older copy
    // The writer's next use of L2, whatever it reads, moves the generation on.
    expect(codeOf(await settleBy(writer.find(suite.store.schema(), 'unrelated'), DEADLINE))).toBe('OK');
    expect(await readFresh()).toBe(2);
  });
});
