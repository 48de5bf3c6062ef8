import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { manualClock } from '@strata/core/driver';
import { uniqueName } from '@strata/devstack/testing';
import { describe, expect, it } from 'vitest';
import { REFRESH_PASSED, restartSuite } from '../support/restart-suite.js';

// Found by model-deployments (write-behind, seed 482529423, every fault class):
// `skewedWrites(A2 then A1, k1), redisRestart(SIGKILL, same AOF), get(A2, k1)` → A2 read null,
// below its own acknowledged write. Minimised: two write-behind instances with a bus; `second`
// writes a key, `first` writes it again (`second` gets the message), Redis restarts, `second` is
// the first to find the reset. The reset orphans every pending row (`first`'s too) until each
// writer puts its own back; `second` had forgotten its write when the message told a newer
// version, so it put nothing back and read Postgres, which has neither write. Before the fix:
// "second reads its write or the newer one: expect(received).toBeOneOf() … Received: null" (both variants).
// Now (engine/adopt-replaced.ts) `second` takes into the new generation the pending row L2 still
// holds at exactly the version the bus told it.
//
// Without the data (restarted empty) nothing is left to take, and `second`'s own older row cannot
// be put back instead: the newer write may be a delete Postgres already has (findMany cannot date a
// key it does not hold), and the row would come back. Before the fix `second` read what Postgres
// had until `first` found the reset (its next generation read, up to 5 s) or flushed: "second
// reads its write or the newer one … Received: null". Now (engine/reset-told.ts, replaced-wait.ts)
// `first` hears the reset on the bus (the whole-schema message `second` sends on finding it, or a
// gap), reads its generation at once, puts its write back and publishes its key at its version;
// `second`'s read of a key it was told replaced, with no row of that version in L2, waits for that
// message, at most REPLACED_WAIT_MS after the reset, then reads L2 again. A writer that crashed (or
// one from before this) tells nothing: the read waits the bound once, then Postgres answers.

const s = restartSuite('restart_superseded_own');

/** `busRestarts`: the bus is on the restarted Redis too (its subscription drops: a gap), as in the model. */
async function replacedThenRestarted(dropData: boolean, busRestarts = false) {
  const clock = manualClock(Date.now());
  const id = dropData ? 'lost' : busRestarts ? 'kept-gap' : 'kept';
  const schema = s.store.schema('write-behind');
  // Else the bus is on the shared Redis, which keeps running: only L2 and the generation restart.
  const busUrl = busRestarts ? s.redis.url : s.store.redisUrl;
  const { first, second } = s.writeBehindPair(id, clock, { busUrls: [busUrl, busUrl] });
  for (const x of [first, second]) await x.find(schema, 'warm-up'); // subscribed, knows this Redis life

  await second.set(schema, { id, n: 1, label: 'second-v1' });
  await first.set(schema, { id, n: 2, label: 'first-v2' });
  // `second` got the message (its L1 copy of v1 dropped): it reads the newer pending row.
  await expect.poll(async () => (await second.get(schema, id)).n, { timeout: 5_000 }).toBe(2);

  if (!dropData) await s.client().save();
  await s.restart({ dropData });
  clock.advance(REFRESH_PASSED); // `second`'s next read makes a generation read: it finds the reset
  const read = await second.find(schema, id);
  expect((await s.store.stored()).has(id), 'Postgres has not had the flush').toBe(false);
  expect(read?.n ?? null, 'second reads its write or the newer one').toBeOneOf([1, 2]);

  // Once `first` finds the reset too, it puts its own write back: every instance reads it.
  await first.find(schema, id);
  for (const x of [first, second]) expect((await x.get(schema, id)).n).toBe(2);
  await first.flushDirty();
  await second.flushDirty();
  expect((await s.store.stored()).get(id)).toBe(2);
  for (const x of [first, second]) expect((await x.get(schema, id)).n).toBe(2);
}

describe('Redis restarted while an instance’s queued write was replaced by another instance’s', () => {
  it('with its data: the instance that finds the reset first reads the newer write, not what Postgres has', async () => {
    await replacedThenRestarted(false);
  });
  it('with its data, the bus on that Redis too (a gap): the same', async () => {
    await replacedThenRestarted(false, true);
  });
  it('without its data: the newer write’s writer hears the reset and puts it back; the read waits for it', async () => {
    await replacedThenRestarted(true);
  });
});

/**
 * `second` wrote n: 1 over n: 0 (in Postgres), then `first` deleted the key; Redis restarts empty.
 * `flushed`: Postgres has the delete already (the case that rules out putting `second`'s row back).
 */
async function deletedThenRestarted(flushed: boolean) {
  const clock = manualClock(Date.now());
  const id = flushed ? 'gone-flushed' : 'gone';
  const schema = s.store.schema('write-behind');
  const { first, second } = s.writeBehindPair(id, clock);
  for (const x of [first, second]) await x.find(schema, 'warm-up');
  await second.set(schema, { id, n: 0, label: 'stored' });
  await second.flushDirty();
  await second.set(schema, { id, n: 1, label: 'second-v1' });
  await first.delete(schema, id);
  await expect.poll(() => second.find(schema, id), { timeout: 5_000 }).toBeNull();
  if (flushed) await first.flushDirty();
  expect((await s.store.stored()).get(id), 'Postgres before the restart').toBe(flushed ? undefined : 0);

  await s.restart({ dropData: true });
  clock.advance(REFRESH_PASSED);
  expect(
    await second.find(schema, id),
    'second reads the delete: not its own row, not Postgres’ older one',
  ).toBeNull();
  // Told a delete Postgres holds no row for: nothing to wait for (Postgres' answer is the delete's).
  if (flushed) expect(s.ranOut(second), 'no wait for a flushed delete').toBe(0);

  await first.find(schema, id);
  for (const x of [first, second]) await x.flushDirty();
  expect((await s.store.stored()).has(id), 'no row came back').toBe(false);
  for (const x of [first, second]) expect(await x.find(schema, id)).toBeNull();
}

describe('Redis restarted empty while the newer write of an instance’s replaced write was a delete', () => {
  it('not flushed: its writer puts the delete back, and the instance reads it', async () => {
    await deletedThenRestarted(false);
  });
  it('flushed: the instance reads Postgres at once, which has it; its own row never comes back', async () => {
    await deletedThenRestarted(true);
  });
});

describe('Redis restarted empty: the limits', () => {
  it('the newer write’s writer is gone (crashed): the read waits REPLACED_WAIT_MS once, then Postgres answers', async () => {
    const clock = manualClock(Date.now());
    const id = 'crashed';
    const schema = s.store.schema('write-behind');
    const { buses, first, second } = s.writeBehindPair(id, clock);
    for (const x of [first, second]) await x.find(schema, 'warm-up');
    await second.set(schema, { id, n: 1, label: 'second-v1' });
    await first.set(schema, { id, n: 2, label: 'first-v2' });
    await expect.poll(async () => (await second.get(schema, id)).n, { timeout: 5_000 }).toBe(2);
    // `first` hears nothing from now on and reads nothing: its write waits in the queue.
    await s.writerGoneWaitsOnce({ clock, writerBus: buses[0]!, reader: second, id, n: 2 });
  });

  it('an instance without a bus was told nothing: it puts its own write back and waits for nothing', async () => {
    const clock = manualClock(Date.now());
    const id = 'no-bus';
    const keyPrefix = `${s.store.name}-${id}`;
    const schema = s.store.schema('write-behind');
    const first = s.instance(keyPrefix, clock, {
      writeBehind: true,
      bus: createRedisPubSubBus({ url: s.store.redisUrl, channel: uniqueName('superseded_own_bus') }),
    });
    const second = s.instance(keyPrefix, clock, { writeBehind: true });
    for (const x of [first, second]) await x.find(schema, 'warm-up');
    await second.set(schema, { id, n: 1, label: 'second-v1' });
    await first.set(schema, { id, n: 2, label: 'first-v2' });

    await s.restart({ dropData: true });
    clock.advance(REFRESH_PASSED);
    expect((await second.get(schema, id)).n, 'its own write, put back').toBe(1);
    expect(s.ranOut(second), 'no wait without a bus').toBe(0);

    // `first` finds the reset at its next read and puts its newer write back over it.
    await first.find(schema, id);
    clock.advance(REFRESH_PASSED); // past `second`'s L1 copy (no bus drops it)
    for (const x of [first, second]) expect((await x.get(schema, id)).n).toBe(2);
    for (const x of [first, second]) await x.flushDirty();
    expect((await s.store.stored()).get(id)).toBe(2);
  });
});
