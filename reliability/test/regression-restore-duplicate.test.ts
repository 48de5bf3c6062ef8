import { createRedisStreamQueue } from '@strata/adapter-node/redis-tcp';
import { manualClock } from '@strata/core/driver';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { REFRESH_PASSED, restartSuite } from '../support/restart-suite.js';

// After an L2 reset the writer puts its unflushed write-behind writes back and queues them again at
// their versions (engine/own-pending.ts, `queueAgain`). Where the queue is on another Redis, which
// kept the original entries, the copy is a duplicate. Both carry one write; a retry that orders
// one of them behind a newer write of the key (written after the reset: a later epoch) finds
// Postgres at that newer version. Before, the flush took that for a write of another epoch that
// never saw this one's columns, and reported WRITE_BEHIND_SUPERSEDED (`errorsBy.superseded`,
// `onWriteError`, a warning): a loss that was not one, since the write had been applied, and the
// reset had put it back in the pending index the newer write merged over.

const s = restartSuite('reg_restore_dup');
const closing: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.allSettled(closing.splice(0).map((q) => q.close()));
});

describe('a write queued again after an L2 reset, the queue on another Redis that kept the original', () => {
  it('the copy, flushed behind a newer write of the key, is a redelivery: no WRITE_BEHIND_SUPERSEDED', async () => {
    const clock = manualClock(Date.now());
    const keyPrefix = `${s.store.name}-dup`;
    const schema = s.store.schema('write-behind');
    const writer = s.instance(keyPrefix, clock, { writeBehind: true });
    await writer.set(schema, { id: 'k', n: 1, label: 'before-reset' });
    await s.restart({ dropData: true });
    clock.advance(REFRESH_PASSED);
    // The read finds the reset; the writer puts its write back (pending) and queues it again.
    expect((await writer.get(schema, 'k')).n).toBe(1);
    await writer.settled();

    // Another flusher of the app takes both entries; it hands back the original at once and stalls
    // on the copy, while the writer writes the key again (a later epoch: the counter went with Redis).
    const stalled = createRedisStreamQueue({
      url: s.store.redisUrl,
      keyPrefix,
      allowVolatile: true,
      consumer: 'stalled',
    });
    closing.push(stalled);
    const taken = await stalled.take(10);
    expect(taken.map((d) => `${d.write.id}@${d.write.version}`)).toEqual([
      `k@${taken[0]!.write.version}`,
      `k@${taken[0]!.write.version}`,
    ]);
    const [original, copy] = taken as [(typeof taken)[0], (typeof taken)[0]];
    await stalled.retry([original.handle]);
    await writer.set(schema, { id: 'k', n: 2, label: 'after-reset' });

    // The writer's drain applies the original and the newer write, then waits for the copy.
    const flushing = writer.flushDirty();
    await vi.waitFor(async () => expect((await s.store.stored()).get('k')).toBe(2), {
      timeout: 5_000,
      interval: 5,
    });
    await stalled.retry([copy.handle]); // handed back: the drain takes it now, behind the newer write
    await flushing;

    expect((await s.store.stored()).get('k')).toBe(2);
    expect((await writer.get(schema, 'k')).n).toBe(2);
    expect(writer.stats().errorsBy.superseded ?? 0, 'a redelivered write reported as superseded').toBe(0);
    expect(await stalled.pending(), 'every entry acknowledged').toBe(0);
  });
});
