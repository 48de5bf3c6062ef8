import { Strata } from '@strata/core';
import { type ManualClock, manualClock } from '@strata/core/driver';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { createUpstashL2, createUpstashLogBus } from '@strata/core/upstash';
import { testDevstack } from '@strata/devstack/testing';
import { describe, expect, it } from 'vitest';
import { codeOf, Tally } from '../support/fault-harness.js';
import { httpFaultSuite } from '../support/http-fault-suite.js';

// The invalidation log bus (what Worker isolates use) reached through a loopback HTTP proxy in front
// of the devstack's Upstash endpoint; L2 and L3 are reached directly. A bus that answers 5xx or hangs
// may leave an L1 copy stale (counted), but never fails or stalls a read or a write.

const BUS_TIMEOUT = 300; // the L2 deadline, which bus calls share
const POLL_MS = 50;
/**
 * Longest a call may take, the bus at fault or not: 20 bus deadlines, beyond what a busy machine adds
 * (at a load average of 58 on 2 cores a new instance's first write took past 2 s). A held request is
 * never answered: a call that waited for one would reach this (a hang).
 */
const DEADLINE = 20 * BUS_TIMEOUT;

/** The devstack's Upstash endpoint (the one behind the proxy). */
function upstashEndpoint(): { url: string; token: string } {
  const upstash = testDevstack().upstash;
  if (!upstash) throw new Error('the devstack has no Upstash endpoint (Redis unavailable)');
  return upstash;
}

const suite = httpFaultSuite('faults_bus', () => upstashEndpoint().url);
const { instances } = suite;

/** An instance whose bus goes through the proxy; its tiers do not. */
function instance(clock: ManualClock) {
  const strata = new Strata({
    l2: createUpstashL2({ ...upstashEndpoint(), retry: false } as never),
    l3: createDrizzleL3(suite.store.db, { migrationsSchema: suite.store.name }),
    coherence: {
      bus: createUpstashLogBus({
        url: suite.proxy.url,
        token: upstashEndpoint().token,
        stream: `${suite.store.name}:log`,
      }),
      pollInterval: POLL_MS,
    },
    clock,
    keyPrefix: suite.store.name,
    timeouts: { l2: BUS_TIMEOUT },
    schemas: [suite.store.schema()],
  });
  instances.push(strata);
  return strata;
}

/** B's view of `id` after the next poll is due: the call must answer, by its deadline. */
async function readAfterPoll(t: Tally, clock: ManualClock, reader: Strata, id: string) {
  clock.advance(POLL_MS + 1);
  const r = await t.run(reader.get(suite.store.schema(), id), DEADLINE);
  expect(codeOf(r), `get ${id}`).toBe('OK');
  return { n: 'ok' in r && r.ok ? r.value.n : undefined };
}

describe('invalidation log bus faults', () => {
  it('5xx: writes are acknowledged, reads answer (stale at worst, counted); the lost invalidation is sent once the bus is back', async () => {
    const t = new Tally('faults', 'upstash log bus: 503, then recovery');
    const clock = manualClock(Date.now());
    const [a, b] = [instance(clock), instance(clock)];
    const set = async (n: number) => {
      const r = await t.run(a.set(suite.store.schema(), { id: 'bx', n }), DEADLINE);
      expect(codeOf(r)).toBe('OK');
      t.acked('bx', n);
    };
    await set(1);
    expect((await readAfterPoll(t, clock, b, 'bx')).n).toBe(1); // now in B's L1
    suite.proxy.set({ fault: { kind: 'status', status: 503 } });
    t.fault();
    await set(2); // its publish fails: counted, the write stands
    expect(a.stats().errorsBy.l2).toBeGreaterThanOrEqual(1);
    const during = await readAfterPoll(t, clock, b, 'bx');
    expect(during.n).toBe(1); // B's L1 copy: the invalidation did not get through
    expect(b.stats().errorsBy.bus).toBeGreaterThanOrEqual(1);
    suite.proxy.pass();
    // A's next bus call (a write to another row) sends the kept invalidation of bx first.
    const other = await t.run(a.set(suite.store.schema(), { id: 'bx-other', n: 1 }), DEADLINE);
    expect(codeOf(other)).toBe('OK');
    t.acked('bx-other', 1);
    expect((await readAfterPoll(t, clock, b, 'bx')).n).toBe(2);
    await set(3);
    expect((await readAfterPoll(t, clock, b, 'bx')).n).toBe(3);
    const stored = await suite.store.stored();
    expect(t.missing(stored)).toEqual([]);
    expect(t.hangs).toBe(0);
    expect(t.unhandledRejections).toBe(0);
    t.finish({ writesFound: t.found(stored) });
  });

  it('hanging: a write waits at most the deadline for its publish; reads wait once, then not at all', async () => {
    const t = new Tally('faults', 'upstash log bus: hanging, then recovery');
    const clock = manualClock(Date.now());
    const [a, b] = [instance(clock), instance(clock)];
    const first = await t.run(a.set(suite.store.schema(), { id: 'by', n: 1 }), DEADLINE);
    expect(codeOf(first)).toBe('OK');
    t.acked('by', 1);
    expect((await readAfterPoll(t, clock, b, 'by')).n).toBe(1);

    suite.proxy.set({ fault: { kind: 'hang' } });
    t.fault();
    // Held requests are never answered here: a call that waited for one would reach its DEADLINE
    // (a hang), however busy the machine. Each wait that ends by the bus deadline is counted.
    const errors = (x: Strata) => x.stats().errorsBy;
    const published = errors(a).l2 ?? 0;
    const second = await t.run(a.set(suite.store.schema(), { id: 'by', n: 2 }), DEADLINE);
    expect(codeOf(second)).toBe('OK');
    t.acked('by', 2);
    // Acknowledged once its publish timed out (counted), the publish still held by the endpoint.
    expect(errors(a).l2 ?? 0, 'the publish ended by its deadline').toBe(published + 1);
    await suite.proxy.held(1);
    // The first read after the poll is due waits for it up to the deadline; the next ones do not
    // queue behind the poll that is still out (held): they send nothing and wait for no deadline.
    const polled = errors(b).bus ?? 0;
    await readAfterPoll(t, clock, b, 'by');
    expect(errors(b).bus ?? 0, 'the poll ended by its deadline').toBe(polled + 1);
    await suite.proxy.held(2);
    const sent = suite.proxy.stats().requests;
    await readAfterPoll(t, clock, b, 'by');
    expect(suite.proxy.stats().requests, 'a read after the stuck poll sent another').toBe(sent);
    expect(errors(b).bus ?? 0, 'a read after the stuck poll waited for a deadline').toBe(polled + 1);
    expect(suite.proxy.hanging, 'the set and the poll still held').toBe(2);

    suite.proxy.release('reset');
    suite.proxy.pass();
    const third = await t.run(a.set(suite.store.schema(), { id: 'by', n: 3 }), DEADLINE);
    expect(codeOf(third)).toBe('OK');
    t.acked('by', 3);
    // Once the stuck poll has settled, polling resumes and B sees the newest write.
    await expect
      .poll(async () => (await readAfterPoll(t, clock, b, 'by')).n, { timeout: DEADLINE, interval: 20 })
      .toBe(3);
    const stored = await suite.store.stored();
    expect(t.missing(stored)).toEqual([]);
    expect(t.hangs).toBe(0);
    expect(t.unhandledRejections).toBe(0);
    t.finish({ writesFound: t.found(stored) });
  });
});
