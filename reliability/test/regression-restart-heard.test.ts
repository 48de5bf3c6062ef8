import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import type { Strata } from '@strata/core';
import { manualClock, REPLACED_WAIT_MS } from '@strata/core/driver';
import { uniqueName } from '@strata/devstack/testing';
import { describe, expect, it } from 'vitest';
import { DEADLINE, REFRESH_PASSED, restartSuite } from '../support/restart-suite.js';

// Found by model-deployments (write-behind, seed 7306, 60 runs of 40 commands):
// `set(A2, k0), redisRestart, get(A1, k0)` → "A1 read null, replaced by [2] 1061 ms before the read
// (bound 1000 ms)". A1 had no write of k0 of its own; the bus had told it A2's (version 2, queued,
// not flushed). A1 found the reset first: its generation move orphaned A2's pending row, and A1
// answered what Postgres had (nothing) until A2 found the reset itself and put its row back.
// The keys of this instance's own replaced writes waited for their writers then (ReplacedWaits);
// the keys it was only told of did not. Minimised: two write-behind instances with a bus on the
// shared Redis (it keeps running); `first` writes, `second` hears it; L2's Redis restarts; `second`
// finds the reset first. Before the fix: "AssertionError: second reads the write it was told of:
// expected null to be 2" (both variants; the writer-gone case waited 7 ms, not the bound).
// Now (engine/heard-versions.ts) `second` keeps the versions told of other instances' write-behind
// writes, and after a reset a read of such a key that L2 no longer holds and Postgres has not got
// waits for its writer's message (at most REPLACED_WAIT_MS), as a replaced own write's key does.

const s = restartSuite('restart_heard');

function pair(id: string, clock = manualClock(Date.now())) {
  const channel = uniqueName('restart_heard_bus');
  const buses = [0, 1].map(() => createRedisPubSubBus({ url: s.store.redisUrl, channel }));
  const [first, second] = buses.map((bus) =>
    s.instance(`${s.store.name}-${id}`, clock, { writeBehind: true, bus }),
  ) as [Strata, Strata];
  return { clock, buses, first, second };
}

async function heardThenRestarted(dropData: boolean) {
  const id = dropData ? 'lost' : 'kept';
  const schema = s.store.schema('write-behind');
  const { clock, first, second } = pair(id);
  for (const x of [first, second]) await x.find(schema, 'warm-up'); // subscribed, knows this Redis life

  await first.set(schema, { id, n: 2, label: 'first-v2' });
  // `second` was told (its bus message), and reads the pending row: it holds no write of the key.
  await expect.poll(async () => (await second.find(schema, id))?.n ?? null, { timeout: 5_000 }).toBe(2);

  if (!dropData) await s.client().save();
  await s.restart({ dropData });
  clock.advance(REFRESH_PASSED); // `second`'s next read makes a generation read: it finds the reset first
  const started = performance.now();
  const read = await second.find(schema, id);
  const waited = performance.now() - started;
  expect((await s.store.stored()).has(id), 'Postgres has not had the flush').toBe(false);
  expect(read?.n ?? null, 'second reads the write it was told of').toBe(2);
  // Told back by `first` (it heard `second`'s whole-schema message), not the bound.
  expect(waited).toBeLessThan(REPLACED_WAIT_MS);

  for (const x of [first, second]) expect((await x.get(schema, id)).n).toBe(2);
  for (const x of [first, second]) await x.flushDirty();
  expect((await s.store.stored()).get(id)).toBe(2);
  for (const x of [first, second]) expect((await x.get(schema, id)).n).toBe(2);
}

describe('Redis restarted while another instance’s queued write, told on the bus, was unflushed', () => {
  it('without its data: the reader that finds the reset first waits for the writer, not Postgres', async () => {
    await heardThenRestarted(true);
  });
  it('with its data: the same (the row is of the generation before; its writer puts it back)', async () => {
    await heardThenRestarted(false);
  });
});

describe('Redis restarted: what a heard key does not wait for', () => {
  it('a write this instance flushed itself: Postgres answers at once', async () => {
    const id = 'flushed-here';
    const schema = s.store.schema('write-behind');
    const { clock, first, second } = pair(id);
    for (const x of [first, second]) await x.find(schema, 'warm-up');
    await first.set(schema, { id, n: 3, label: 'first-v3' });
    await expect.poll(async () => (await second.find(schema, id))?.n ?? null, { timeout: 5_000 }).toBe(3);
    // One queue for the app: `second`'s flusher applies `first`'s write, and forgets what it heard.
    await second.flushDirty();
    expect((await s.store.stored()).get(id)).toBe(3);

    await s.restart({ dropData: true });
    clock.advance(REFRESH_PASSED);
    const started = performance.now();
    expect((await second.get(schema, id)).n).toBe(3);
    expect(performance.now() - started).toBeLessThan(REPLACED_WAIT_MS);
  });

  it('a writer gone (its bus closed, it reads nothing): the read waits REPLACED_WAIT_MS once, then Postgres', async () => {
    const id = 'writer-gone';
    const schema = s.store.schema('write-behind');
    const { clock, buses, first, second } = pair(id);
    for (const x of [first, second]) await x.find(schema, 'warm-up');
    await first.set(schema, { id, n: 4, label: 'first-v4' });
    await expect.poll(async () => (await second.find(schema, id))?.n ?? null, { timeout: 5_000 }).toBe(4);
    await buses[0]!.close();

    await s.restart({ dropData: true });
    clock.advance(REFRESH_PASSED);
    const started = performance.now();
    expect(await second.find(schema, id), 'what Postgres has, once the bound passed').toBeNull();
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(REPLACED_WAIT_MS - 50);
    expect(waited).toBeLessThan(REPLACED_WAIT_MS + DEADLINE);
    const again = performance.now();
    expect(await second.find(schema, id)).toBeNull();
    expect(performance.now() - again).toBeLessThan(REPLACED_WAIT_MS);

    // The queue kept `first`'s write: the flush lands it.
    await second.flushDirty();
    expect((await second.get(schema, id)).n).toBe(4);
  });
});
