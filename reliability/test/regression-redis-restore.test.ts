import type { Strata } from '@strata/core';
import { type ManualClock, manualClock } from '@strata/core/driver';
import { describe, expect, it } from 'vitest';
import { codeOf, Tally } from '../support/fault-harness.js';
import { DEADLINE, REFRESH_PASSED, restartSuite } from '../support/restart-suite.js';

// Issue 12 item 12, a Redis restored from an OLDER snapshot: L2 is a redis-server of the test's own
// (`--save ""`, `--appendonly no`); the test takes a snapshot (SAVE), writes on, kills the server by
// its PID and starts it again from that dump.rdb. Instances run on a manual clock, advanced past the
// generation refresh (5 s) instead of waiting for it.

const s = restartSuite('reg_restore');

/** A snapshot of our Redis now (dump.rdb in its directory). */
async function snapshot(): Promise<void> {
  expect(await s.client().save()).toBe('OK');
}

/**
 * v1 written through Strata, a snapshot, v2 written through Strata (Postgres and L2 hold v2), then
 * the server restarted from the snapshot: L2 holds v1 again. `afterSnapshot` runs between the
 * snapshot and v2.
 */
async function restoreOlder(t: Tally, label: string, afterSnapshot: (clock: ManualClock) => void) {
  const { store } = s;
  const keyPrefix = `${store.name}-${label}`;
  const clock = manualClock(Date.now());
  const schema = store.schema();
  const writer = s.instance(keyPrefix, clock);
  const other = s.instance(keyPrefix, clock);
  const k = `restore-${label}`;
  const write = async (n: number) => {
    expect(codeOf(await t.run(writer.set(schema, { id: k, n, label: `${label}-v${n}` }), DEADLINE))).toBe(
      'OK',
    );
    t.acked(k, n);
  };
  await write(1);
  expect((await other.get(schema, k)).n).toBe(1); // the other instance has read it (and the generation)
  await snapshot();
  afterSnapshot(clock);
  await write(2);
  expect(await s.l2ValuesWith(`${label}-v2`), 'L2 holds v2').toHaveLength(1);
  await s.restart();
  t.fault();
  expect(await s.l2ValuesWith(`${label}-v1`), 'L2 holds v1 again').toHaveLength(1);
  expect(await s.l2ValuesWith(`${label}-v2`)).toHaveLength(0);
  // The detection window passes; then the writer, the other instance and one started now read.
  clock.advance(REFRESH_PASSED);
  const fresh = s.instance(keyPrefix, clock);
  const reads = await s.readAll(t, { writer, other, fresh }, k);
  return { k, reads, resets: (x: Strata) => x.stats().errorsBy['l2-reset'] ?? 0, writer, other, fresh };
}

describe('Redis restored from an older snapshot', () => {
  it('issue 12 item 12 (restore from an older snapshot): once the generation refresh has passed every instance reads what Postgres holds, never the restored row', async () => {
    const t = new Tally('faults', 'redis: restored from an older snapshot (a generation read after it)');
    // Between the snapshot and v2 the generation refresh passes: the writer reads the generation
    // (and Redis's tick) once more, past what the snapshot holds.
    const r = await restoreOlder(t, 'read', (clock) => clock.advance(REFRESH_PASSED));
    expect(r.reads).toEqual({ writer: 2, other: 2, fresh: 2 });
    expect(r.resets(r.writer), "the writer's stats count the restore").toBe(1);
    const stored = await s.store.stored();
    expect(stored.get(r.k)).toBe(2);
    expect(t.hangs).toBe(0);
    expect(t.unhandledRejections).toBe(0);
    t.finish({ writesFound: t.found(stored) });
  });

  it('issue 12 item 12 (restore from an older snapshot): a snapshot taken after the last generation read is detected too', async () => {
    const t = new Tally('faults', 'redis: restored from an older snapshot (no generation read after it)');
    // v2 is written within the same generation refresh as the snapshot: no instance reads the
    // generation (nor the tick) between the snapshot and the crash.
    const r = await restoreOlder(t, 'same', () => {});
    expect(r.reads).toEqual({ writer: 2, other: 2, fresh: 2 });
    const stored = await s.store.stored();
    expect(t.hangs).toBe(0);
    t.finish({ writesFound: t.found(stored) });
  });

  it('issue 12 item 12 (restore from an older snapshot): a write-behind write made after the restore wins at the flush over one queued before it', async () => {
    const t = new Tally(
      'faults',
      'redis: restored from an older snapshot between two queued write-behind writes',
    );
    const { store } = s;
    const keyPrefix = `${store.name}-wb`;
    const clock = manualClock(Date.now());
    const wb = store.schema('write-behind');
    const w = s.instance(keyPrefix, clock, { writeBehind: true });
    const j = 'restore-wb';
    const write = async (n: number) => {
      expect(codeOf(await t.run(w.set(wb, { id: j, n }), DEADLINE))).toBe('OK');
      t.acked(j, n);
    };
    await write(1);
    expect(codeOf(await t.run(w.flushDirty(), 10_000))).toBe('OK');
    await snapshot(); // the version counter as it is now
    await write(2); // queued on the shared Redis, which keeps running
    await s.restart();
    t.fault();
    await write(3); // right after the restore, before any generation read noticed it
    expect(codeOf(await t.run(w.flushDirty(), 10_000))).toBe('OK');
    const stored = await store.stored();
    expect(stored.get(j), 'Postgres holds the last write').toBe(3);
    expect(t.missing(stored)).toEqual([]);
    expect(t.hangs).toBe(0);
    t.finish({ writesFound: t.found(stored) });
  });

  it('a write-behind write made right after the restore stays readable while the other instances find out (one generation move per Redis life)', async () => {
    const t = new Tally(
      'faults',
      'redis: restored from an older snapshot, then a write-behind write and reads',
    );
    const { store } = s;
    const keyPrefix = `${store.name}-life`;
    const clock = manualClock(Date.now());
    const wb = store.schema('write-behind');
    const a = s.instance(keyPrefix, clock, { writeBehind: true });
    const b = s.instance(keyPrefix, clock, { writeBehind: true });
    const k = 'restore-life';
    expect(codeOf(await t.run(a.set(wb, { id: k, n: 1 }), DEADLINE))).toBe('OK');
    t.acked(k, 1);
    expect(codeOf(await t.run(a.flushDirty(), 10_000))).toBe('OK');
    expect((await b.get(wb, k)).n).toBe(1); // B knows this Redis (its marker and tick)
    await snapshot();
    expect(codeOf(await t.run(a.set(wb, { id: k, n: 2 }), DEADLINE))).toBe('OK');
    t.acked(k, 2);
    expect(codeOf(await t.run(a.flushDirty(), 10_000))).toBe('OK');
    await s.restart(); // back to the snapshot: L2 holds n 1 again, with its old marker
    t.fault();
    // A finds out with its next write (the tick went back) and replaces the marker; B only later.
    expect(codeOf(await t.run(a.set(wb, { id: k, n: 3 }), DEADLINE))).toBe('OK');
    t.acked(k, 3);
    clock.advance(REFRESH_PASSED);
    const read = async (x: Strata) => {
      const r = await t.run(x.get(wb, k), DEADLINE);
      return 'ok' in r && r.ok ? r.value.n : r;
    };
    expect(await read(b), 'B reads the write (not the restored row, nor Postgres before the flush)').toBe(3);
    expect(await read(a), 'A reads its own write').toBe(3);
    expect(await read(s.instance(keyPrefix, clock, { writeBehind: true })), 'an instance started now').toBe(
      3,
    );
    expect([a, b].map((x) => x.stats().errorsBy['l2-reset'])).toEqual([1, 1]);
    expect(codeOf(await t.run(a.flushDirty(), 10_000))).toBe('OK');
    const stored = await store.stored();
    expect(stored.get(k)).toBe(3);
    expect(t.missing(stored)).toEqual([]);
    t.finish({ writesFound: t.found(stored) });
  });
});
