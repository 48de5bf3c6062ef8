import { Q, type Strata } from '@strata/core';
import { manualClock } from '@strata/core/driver';
import { describe, expect, it } from 'vitest';
import { REFRESH_PASSED, restartSuite } from '../support/restart-suite.js';

// Found by model-deployments (write-behind, seed 7306, 60 runs of 40 commands):
// `set(A2, k0), redisRestart, get(A1, k0)` → "A1 read null, replaced by [2] 1061 ms before the read
// (bound 1000 ms)". A1 had no write of k0 of its own; the bus had told it A2's (version 2, queued,
// not flushed). A1 found the reset first: its generation move orphaned A2's pending row, and A1
// answered what Postgres had (nothing) until A2 found the reset itself and put its row back.
// The keys of this instance's own replaced writes waited for their writers then (ReplacedWaits);
// the keys it was only told of did not. Minimised: two write-behind instances with a bus on the
// shared Redis (it keeps running); `first` writes, `second` hears it; L2's Redis restarts; `second`
// finds the reset first. Before the fix: "AssertionError: second reads the write it was told of:
// expected [ null ] to deeply equal [ 2 ]" (each variant; over 4 buckets every key null; the
// writer-gone case waited 4 ms, not the bound). A search after the reset (it did not wait for
// writers at all): "expected [] to deeply equal [ 6 ]".
// Now (engine/heard-versions.ts) `second` keeps the versions told of other instances' write-behind
// writes, and after a reset a read of such a key that L2 no longer holds and Postgres has not got
// waits for its writer's message (at most REPLACED_WAIT_MS), as a replaced own write's key does.

const s = restartSuite('restart_heard');

function pair(id: string, buckets = 1, clock = manualClock(Date.now())) {
  return { clock, ...s.writeBehindPair(id, clock, { buckets }) };
}

/** A pair of app `id` where `first` wrote `id` at `n` and `second`, told (its bus), reads that pending row. */
async function told(id: string, n: number) {
  const schema = s.store.schema('write-behind');
  const made = pair(id);
  for (const x of [made.first, made.second]) await x.find(schema, 'warm-up');
  await made.first.set(schema, { id, n, label: `first-v${n}` });
  await expect.poll(async () => (await made.second.find(schema, id))?.n ?? null, { timeout: 5_000 }).toBe(n);
  return { ...made, schema };
}

/** `buckets` > 1: several keys, spread over the buckets (hash tags on the one Redis), read in one getMany. */
async function heardThenRestarted(dropData: boolean, buckets = 1) {
  const name = `${dropData ? 'lost' : 'kept'}${buckets > 1 ? `-b${buckets}` : ''}`;
  const ids = buckets > 1 ? Array.from({ length: 8 }, (_, i) => `${name}-${i}`) : [name];
  const schema = s.store.schema('write-behind');
  const { clock, first, second } = pair(name, buckets);
  for (const x of [first, second]) await x.find(schema, 'warm-up'); // subscribed, knows this Redis life

  const ns = () => ids.map((_, i) => i + 2);
  for (const [i, id] of ids.entries()) await first.set(schema, { id, n: i + 2, label: 'first' });
  // `second` was told (its bus messages), and reads the pending rows: it holds no write of the keys.
  const readBy = async (x: Strata) => (await x.getMany(schema, ids)).map((r) => r?.n ?? null);
  await expect.poll(() => readBy(second), { timeout: 5_000 }).toEqual(ns());

  if (!dropData) await s.client().save();
  await s.restart({ dropData });
  clock.advance(REFRESH_PASSED); // `second`'s next read makes a generation read: it finds the reset first
  const read = await readBy(second);
  expect(
    [...(await s.store.stored()).keys()].filter((id) => ids.includes(id)),
    'not flushed',
  ).toEqual([]);
  expect(read, 'second reads the write it was told of').toEqual(ns());
  // Told back by `first` (it heard `second`'s whole-schema message), not the bound.
  expect(s.ranOut(second), "ended by first's message").toBe(0);

  for (const x of [first, second]) expect(await readBy(x)).toEqual(ns());
  for (const x of [first, second]) await x.flushDirty();
  const stored = await s.store.stored();
  expect(ids.map((id) => stored.get(id))).toEqual(ns());
  for (const x of [first, second]) expect(await readBy(x)).toEqual(ns());
}

describe('Redis restarted while another instance’s queued write, told on the bus, was unflushed', () => {
  it('without its data: the reader that finds the reset first waits for the writer, not Postgres', async () => {
    await heardThenRestarted(true);
  });
  it('with its data: the same (the row is of the generation before; its writer puts it back)', async () => {
    await heardThenRestarted(false);
  });
  it('over 4 buckets, without its data: every key waits for its writer, in one read', async () => {
    await heardThenRestarted(true, 4);
  });
});

describe('Redis restarted: a search', () => {
  it('waits for the writers of the keys the reset left waiting, then finds their writes pending', async () => {
    const id = 'searched';
    const { clock, second, schema } = await told(id, 6);

    await s.restart({ dropData: true });
    clock.advance(REFRESH_PASSED); // `second`'s search makes a generation read: it finds the reset first
    const found = await second.search(schema, Q().where('id = $1', id).build());
    expect((await s.store.stored()).has(id), 'Postgres has not had the flush').toBe(false);
    expect(
      found.map((r) => r.n),
      'the write it was told of, from the index its writer put back',
    ).toEqual([6]);
    expect(s.ranOut(second), "ended by first's message").toBe(0);
  });
});

describe('Redis restarted: what a heard key does not wait for', () => {
  it('a write this instance flushed itself: Postgres answers at once', async () => {
    const id = 'flushed-here';
    const { clock, second, schema } = await told(id, 3);
    // One queue for the app: `second`'s flusher applies `first`'s write, and forgets what it heard.
    await second.flushDirty();
    expect((await s.store.stored()).get(id)).toBe(3);

    await s.restart({ dropData: true });
    clock.advance(REFRESH_PASSED);
    expect((await second.get(schema, id)).n).toBe(3);
    expect(s.ranOut(second), 'no wait for a write flushed here').toBe(0);
  });

  it('a writer gone (its bus closed, it reads nothing): the read waits REPLACED_WAIT_MS once, then Postgres', async () => {
    const id = 'writer-gone';
    const { clock, buses, second } = await told(id, 4);
    await s.writerGoneWaitsOnce({ clock, writerBus: buses[0]!, reader: second, id, n: 4 });
  });
});
