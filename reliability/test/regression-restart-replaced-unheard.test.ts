import { manualClock } from '@strata/core/driver';
import { describe, expect, it } from 'vitest';
import { REFRESH_PASSED, restartSuite } from '../support/restart-suite.js';

// Found by model-deployments (write-behind, seed 7301, 60 runs of 40 commands, every fault class):
// `skewedWrites(A2 +10 s then A1 -7 s, k1), redisRestart(SIGKILL, same AOF), get(A2, k1)` →
// "get(A2, k1) on A2 read wbr16-k1 = null, but may only return one of [4,5]": below A2's own
// acknowledged write. The sibling of regression-restart-superseded-own, where A2 had heard A1's
// message: here the restart came before the message reached A2 (pub/sub delivers at most once; the
// restart's gap is all A2 learns). A2 still remembered its own write as pending, found the reset
// first and put it back; the newer pending row of A1's write still on the key refused it (a PUT
// lands only at a version as new), and nothing took that row into the new generation: A2 read what
// Postgres had (nothing) until A1 found the reset too (its next generation read) or flushed.
// Minimised: `second` hears nothing of `first` (another bus channel) and its bus is on the
// restarted Redis (a gap). Before the fix: "second reads its write or the newer one:
// expect(received).toBeOneOf(expected) … Received: null".

const s = restartSuite('restart_replaced_unheard');

describe('Redis restarted before an instance heard that its queued write was replaced', () => {
  it('with its data: the instance that finds the reset first reads the newer write, not what Postgres has', async () => {
    const clock = manualClock(Date.now());
    const id = 'unheard';
    const schema = s.store.schema('write-behind');
    // `second` subscribes where `first` does not publish: `first`'s message never reaches it. Both
    // buses on the restarted Redis.
    const { first, second } = s.writeBehindPair(id, clock, {
      busUrls: [s.redis.url, s.redis.url],
      apart: true,
    });
    for (const x of [first, second]) await x.find(schema, 'warm-up'); // subscribed, knows this Redis life

    await second.set(schema, { id, n: 1, label: 'second-v1' });
    await first.set(schema, { id, n: 2, label: 'first-v2' });
    expect((await second.get(schema, id)).n, 'second, unaware of the newer write, reads its own').toBe(1);

    await s.client().save();
    await s.restart({ dropData: false });
    clock.advance(REFRESH_PASSED); // `second`'s next read makes a generation read: it finds the reset first
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
  });
});
