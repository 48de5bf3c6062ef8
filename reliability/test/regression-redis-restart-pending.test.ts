import { Q } from '@strata/core';
import { decodeEnvelope, manualClock } from '@strata/core/driver';
import { describe, expect, it } from 'vitest';
import { REFRESH_PASSED, restartSuite } from '../support/restart-suite.js';

// A Redis restarted WITHOUT its data while write-behind writes are queued (the queue is on the
// shared Redis, which keeps running: the writes outlive L2). The pending rows L2 held are gone, and
// Postgres has not had the flush. Each instance puts its own unflushed writes back into L2 when it
// finds the reset (engine/own-pending.ts), so the writer reads its writes, and so does everyone.
// Found by the probe "breakit" (it was an expected failure there).

const s = restartSuite('reg_restart_pending');

describe('a Redis restarted without its data while write-behind writes are queued', () => {
  it('the writer and the others read the queued writes before the flush; flushed ones are not put back as pending', async () => {
    const clock = manualClock(Date.now());
    const keyPrefix = `${s.store.name}-own`;
    const schema = s.store.schema('write-behind');
    const writer = s.instance(keyPrefix, clock, { writeBehind: true });
    const other = s.instance(keyPrefix, clock, { writeBehind: true });
    await other.find(schema, 'warm-up'); // knows this Redis's life
    // `done`: written and flushed before the reset (Postgres has it: not pending any more).
    await writer.set(schema, { id: 'done', n: 1, label: 'own-done' });
    await writer.set(schema, { id: 'rk', n: 1, label: 'own-v1' });
    await writer.set(schema, { id: 'gone', n: 1, label: 'own-gone-v1' });
    // Flushed by the other instance, whose message the writer does not get (no bus here): the
    // writer still counts them as its own unflushed writes, and Postgres tells it otherwise.
    await other.flushDirty();
    expect((await s.store.stored()).get('done')).toBe(1);
    // Queued, acknowledged, not flushed: a set and a delete.
    await writer.set(schema, { id: 'rk', n: 2, label: 'own-v2' });
    await writer.delete(schema, 'gone');
    await s.restart({ dropData: true });
    expect(await s.l2ValuesWith('own-v2'), 'the restart took the pending row').toEqual([]);
    clock.advance(REFRESH_PASSED);

    expect((await writer.get(schema, 'rk')).n, 'the writer reads its queued write').toBe(2);
    expect(await writer.find(schema, 'gone'), 'and its queued delete').toBeNull();
    // Put back into L2, pending: the other instance (which wrote nothing) reads them too.
    const [pending] = await s.l2ValuesWith('own-v2');
    expect(decodeEnvelope(pending ?? '')).toMatchObject({ pending: true, kind: 'r' });
    expect((await other.get(schema, 'rk')).n).toBe(2);
    expect(await other.find(schema, 'gone')).toBeNull();
    expect(await s.l2ValuesWith('own-done'), 'a flushed write is not put back').toEqual([]);
    // The restore puts the pending index back too: searches lay the queued writes over Postgres.
    const ours = Q().where("id in ('done', 'rk', 'gone')").orderBy('id').build();
    const seen = async (x: typeof other) => (await x.search(schema, ours)).map((r) => `${r.id}:${r.n}`);
    expect({ other: await seen(other), writer: await seen(writer) }).toEqual({
      other: ['done:1', 'rk:2'],
      writer: ['done:1', 'rk:2'],
    });
    expect((await s.store.stored()).get('rk'), 'Postgres has not had the flush').toBe(1);

    await writer.flushDirty();
    const stored = await s.store.stored();
    expect({ rk: stored.get('rk'), gone: stored.has('gone') }).toEqual({ rk: 2, gone: false });
    // The flush rewrote the restored row at its version, no longer pending.
    const [flushed] = await s.l2ValuesWith('own-v2');
    expect(decodeEnvelope(flushed ?? '')).toMatchObject({ pending: false });
    for (const x of [writer, other]) {
      expect((await x.get(schema, 'rk')).n).toBe(2);
      expect(await x.find(schema, 'gone')).toBeNull();
    }
  });
});
