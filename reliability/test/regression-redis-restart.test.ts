import { manualClock } from '@strata/core/driver';
import { describe, expect, it } from 'vitest';
import { codeOf, settleBy, Tally } from '../support/fault-harness.js';
import { DEADLINE, REFRESH_PASSED, restartSuite } from '../support/restart-suite.js';

// Issue 12 item 12, a Redis restarted WITHOUT its data: L2 is a redis-server of the test's own,
// killed by its PID and started again empty on the same port. Instances run on a manual clock,
// advanced past the generation refresh (5 s) instead of waiting for it.

const s = restartSuite('reg_restart');

describe('Redis restarted without its data', () => {
  it('issue 12 item 12 (restart without data): a late fill into the empty Redis is not served once the generation refresh has passed', async () => {
    const t = new Tally('faults', 'redis: restarted without its data, a read filling L2 across the restart');
    const { store, proxy } = s;
    const keyPrefix = `${store.name}-late`;
    const clock = manualClock(Date.now());
    const schema = store.schema();
    const a = s.instance(keyPrefix, clock, { proxied: true });
    const b = s.instance(keyPrefix, clock);
    for (const x of [a, b]) await x.find(schema, 'warm-up'); // both know this Redis

    // Postgres holds v1, L2 does not.
    const k = 'restart-k';
    expect(codeOf(await t.run(b.set(schema, { id: k, n: 1, label: 'late-v1' }), DEADLINE))).toBe('OK');
    await b.invalidate(schema, k);

    // A reads k from Postgres; the reply (v1) is held. Meanwhile B writes v2, and Redis restarts
    // without its data: the copy of v2 and its version are gone.
    let sent = false;
    const sees = (chunk: Buffer) => {
      if (chunk.includes(k)) sent = true;
      return false;
    };
    void proxy.trap({ direction: 'up', action: 'hold', match: sees });
    const held = proxy.trap({ direction: 'down', action: 'hold', match: () => sent });
    const aRead = t.run(a.get(schema, k), DEADLINE);
    expect(await settleBy(held, DEADLINE)).toEqual({ ok: true, value: undefined });
    expect(codeOf(await t.run(b.set(schema, { id: k, n: 2, label: 'late-v2' }), DEADLINE))).toBe('OK');
    t.acked(k, 2);
    await s.restart({ dropData: true });
    t.fault(2);

    // A's read returns v1 (it began before B's write). Its fill into the empty Redis once landed
    // (L2 then served v1, which Postgres no longer holds, until the generation refresh); now the
    // fill carries the boot marker A knows and writes nothing in the new life (LIFE in
    // l2/life-script.ts), and A finds the reset by it.
    proxy.resume();
    const r = await aRead;
    expect('ok' in r && r.ok && r.value.n).toBe(1);
    expect(await s.l2ValuesWith('late-v1'), 'the late fill is not in L2').toHaveLength(0);

    // Once the generation refresh has passed no instance serves it: not A (the late filler), not
    // B, not one started now.
    clock.advance(REFRESH_PASSED);
    const c = s.instance(keyPrefix, clock);
    expect(await s.readAll(t, { a, b, fresh: c }, k)).toEqual({ a: 2, b: 2, fresh: 2 });
    expect(a.stats().errorsBy['l2-reset'], 'A counted the reset').toBe(1);
    expect(b.stats().errorsBy['l2-reset'], 'B counted the reset').toBe(1);
    const stored = await store.stored();
    expect(t.hangs).toBe(0);
    expect(t.unhandledRejections).toBe(0);
    t.finish({ writesFound: t.found(stored) });
  });

  it('issue 12 item 12 (restart without data): a write-behind write made after the restart wins at the flush over one queued before it', async () => {
    const t = new Tally('faults', 'redis: restarted without its data between two queued write-behind writes');
    const { store } = s;
    const keyPrefix = `${store.name}-wb`;
    const clock = manualClock(Date.now());
    const wb = store.schema('write-behind');
    const w = s.instance(keyPrefix, clock, { writeBehind: true });
    const j = 'restart-wb';
    // Queued on the shared Redis, which keeps running: it outlives L2 and its version counter.
    expect(codeOf(await t.run(w.set(wb, { id: j, n: 1 }), DEADLINE))).toBe('OK');
    t.acked(j, 1);
    await s.restart({ dropData: true });
    t.fault();
    // Right after the restart, before any generation read noticed it: the counter is gone.
    expect(codeOf(await t.run(w.set(wb, { id: j, n: 2 }), DEADLINE))).toBe('OK');
    t.acked(j, 2);

    expect(codeOf(await t.run(w.flushDirty(), 10_000))).toBe('OK');
    const stored = await store.stored();
    expect(stored.get(j), 'Postgres holds the later write').toBe(2);
    const fresh = await t.run(s.instance(keyPrefix, clock).get(store.schema(), j), DEADLINE);
    expect('ok' in fresh && fresh.ok && fresh.value.n).toBe(2);
    expect(t.missing(stored)).toEqual([]);
    expect(t.hangs).toBe(0);
    t.finish({ writesFound: t.found(stored) });
  });

  it('a write-behind write made after the restart stays readable while the other instances find out (one generation move per Redis life)', async () => {
    const t = new Tally('faults', 'redis: restarted without its data, then a write-behind write and reads');
    const { store } = s;
    const keyPrefix = `${store.name}-life`;
    const clock = manualClock(Date.now());
    const wb = store.schema('write-behind');
    const a = s.instance(keyPrefix, clock, { writeBehind: true });
    const b = s.instance(keyPrefix, clock, { writeBehind: true });
    for (const x of [a, b]) await x.find(wb, 'warm-up'); // both know this Redis
    await s.restart({ dropData: true });
    t.fault();
    // A finds out with its write (the counter is gone, the tick went back), B only later.
    const k = 'life-k';
    expect(codeOf(await t.run(a.set(wb, { id: k, n: 7 }), DEADLINE))).toBe('OK');
    t.acked(k, 7);
    clock.advance(REFRESH_PASSED); // B reads the generation again and sees the new boot marker
    const other = await t.run(b.get(wb, k), DEADLINE);
    expect('ok' in other && other.ok && other.value.n, 'B reads the write from L2').toBe(7);
    const own = await t.run(a.get(wb, k), DEADLINE);
    expect('ok' in own && own.ok && own.value.n, 'A reads its own write').toBe(7);
    const fresh = await t.run(s.instance(keyPrefix, clock, { writeBehind: true }).get(wb, k), DEADLINE);
    expect('ok' in fresh && fresh.ok && fresh.value.n, 'so does an instance started now').toBe(7);
    expect([a.stats().errorsBy['l2-reset'], b.stats().errorsBy['l2-reset']]).toEqual([1, 1]);
    expect(codeOf(await t.run(a.flushDirty(), 10_000))).toBe('OK');
    const stored = await store.stored();
    expect(stored.get(k)).toBe(7);
    expect(t.hangs).toBe(0);
    t.finish({ writesFound: t.found(stored) });
  });
});
