import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import type { Strata } from '@strata/core';
import { manualClock } from '@strata/core/driver';
import { uniqueName } from '@strata/devstack/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEADLINE, REFRESH_PASSED, restartSuite } from '../support/restart-suite.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

// Found by model-deployments (write-behind, seed 7306, path 13:2:1, replay 'HABAHCP:VB', about 3
// runs in 100): `set(A2, k0), redisRestart(SIGKILL, same AOF), get(A1, k0)` → "get(A1, k0) on A1
// read wbr73-k0 = null, replaced by [2] 1179 ms before the read began (bound 1000 ms)". The bus
// message of A2's write (acknowledged, queued, not flushed) was lost with the restart before it
// reached A1 (pub/sub delivers at most once), so A1 had nothing to wait for (`HeardVersions`):
// it found the reset first, its generation move orphaned A2's pending row, and it answered what
// Postgres had until A2 found the reset and put its row back.
// Minimised, deterministic: `second`'s bus subscription goes through a TCP proxy, paused while
// `first` writes and then cut: the message is lost (the bus is on the shared Redis, which keeps
// running: only L2's Redis restarts). `second` finds the reset first. Before the fix:
// "AssertionError: second reads the write whose message it never got: expected null to be 2".
// Now every write-behind instance answers a reset it finds (`restored`, after its own restore) and
// a reader that found one settles: a read that misses L2 waits for the answers of the peers it
// knows (none known: the first answer, or the bound), then reads L2 again (engine/reset-settle.ts).

const s = restartSuite('restart_lost_msg');
let proxy: TcpProxy;

beforeAll(async () => {
  proxy = await startTcpProxy(Number(new URL(s.store.redisUrl).port || 6379));
});
afterAll(async () => {
  await proxy?.close();
});

/** `first` writes, `second` reads; `second`'s bus goes through the proxy (see above). */
function pair(id: string) {
  const clock = manualClock(Date.now());
  return {
    clock,
    ...s.writeBehindPair(id, clock, { busUrls: [s.store.redisUrl, proxy.url(s.store.redisUrl)] }),
  };
}

/** `first` writes `id` at `n` while `second`'s subscription is held, then cut: the message is lost. */
async function writeUnheard(first: Strata, second: Strata, id: string, n: number, channel: string) {
  const schema = s.store.schema('write-behind');
  // A plain subscriber through the same proxy: a message the cut let through would reach it too.
  // (`second`'s own count of messages is no witness: its subscription coming back asks for answers.)
  const got: string[] = [];
  const witness = await s.listen(channel, (raw) => got.push(raw), { via: proxy }); // cut with the rest: it reconnects
  try {
    const gaps = second.stats().busGaps;
    proxy.pause();
    await first.set(schema, { id, n, label: `first-v${n}` });
    await expect.poll(() => proxy.queued, { timeout: DEADLINE }).toBeGreaterThan(0);
    proxy.cutAll();
    proxy.resume();
    // The subscription comes back (a gap), without the message.
    await expect.poll(() => second.stats().busGaps, { timeout: DEADLINE }).toBeGreaterThan(gaps);
    expect(
      got.filter((raw) => raw.includes(JSON.stringify(id))),
      'second never got the message',
    ).toEqual([]);
  } finally {
    witness.close();
  }
}

describe('Redis restarted after the bus lost the message of a queued write', () => {
  for (const dropData of [true, false]) {
    it(`${dropData ? 'without' : 'with'} its data: the reader that finds the reset first waits for the writer's restore`, async () => {
      const id = `lost-${dropData ? 'dropped' : 'kept'}`;
      const schema = s.store.schema('write-behind');
      const { channel, clock, first, second } = pair(id);
      for (const x of [first, second]) await x.find(schema, 'warm-up'); // subscribed, knows this Redis life
      await writeUnheard(first, second, id, 2, channel);

      if (!dropData) await s.client().save();
      await s.restart({ dropData });
      clock.advance(REFRESH_PASSED); // `second`'s next read makes a generation read: it finds the reset first
      const read = await second.find(schema, id);
      expect((await s.store.stored()).has(id), 'Postgres has not had the flush').toBe(false);
      expect(read?.n ?? null, 'second reads the write whose message it never got').toBe(2);
      // Ended by `first`'s answer (it heard `second`'s whole-schema message), not the bound.
      expect(s.ranOut(second), "ended by first's answer").toBe(0);

      for (const x of [first, second]) await x.flushDirty();
      expect((await s.store.stored()).get(id)).toBe(2);
      for (const x of [first, second]) expect((await x.get(schema, id)).n).toBe(2);
    });
  }

  it('at the next reset, the peer that answered the last one is waited for, and ends the settle', async () => {
    const id = 'lost-twice';
    const schema = s.store.schema('write-behind');
    const { channel, clock, first, second } = pair(id);
    for (const x of [first, second]) await x.find(schema, 'warm-up');
    await s.restart({ dropData: true });
    clock.advance(REFRESH_PASSED);
    const heard = second.stats().invalidationsApplied;
    await second.find(schema, 'after-first-reset'); // finds it; `first` answers
    await expect
      .poll(() => second.stats().invalidationsApplied, { timeout: DEADLINE })
      .toBeGreaterThan(heard);

    await writeUnheard(first, second, id, 5, channel);
    const ranOut = s.ranOut(second);
    await s.restart({ dropData: true });
    clock.advance(REFRESH_PASSED);
    expect((await second.find(schema, id))?.n ?? null).toBe(5);
    expect(s.ranOut(second) - ranOut, "ended by first's answer").toBe(0);
  });
});

describe('what a settle costs', () => {
  it('a writer gone (its bus closed): a read that misses L2 waits REPLACED_WAIT_MS once, then Postgres', async () => {
    const id = 'lost-writer-gone';
    const schema = s.store.schema('write-behind');
    const { buses, channel, clock, first, second } = pair(id);
    for (const x of [first, second]) await x.find(schema, 'warm-up');
    await writeUnheard(first, second, id, 4, channel);
    await s.writerGoneWaitsOnce({
      clock,
      writerBus: buses[0]!,
      reader: second,
      id,
      n: 4,
      again: 'never-written',
    });
  });

  it('no reset: a read that misses L2 does not wait', async () => {
    const schema = s.store.schema('write-behind');
    const { first, second } = pair('lost-no-reset');
    for (const x of [first, second]) await x.find(schema, 'warm-up');
    expect(await second.find(schema, 'nowhere')).toBeNull();
    // A settle with no reset would wait for answers nobody sends, and run its bound out.
    expect(s.ranOut(second), 'no wait').toBe(0);
  });
});

describe('the writer hears the reset while its L2 link is down', () => {
  it('tries its generation read again once it failed, and puts its write back without a read of its own', async () => {
    const l2Proxy = await startTcpProxy(s.redis.port);
    try {
      const id = 'lost-l2-down';
      const schema = s.store.schema('write-behind');
      const clock = manualClock(Date.now());
      const channel = uniqueName('restart_lost_msg_bus');
      const keyPrefix = `${s.store.name}-${id}`;
      const first = s.instance(keyPrefix, clock, {
        writeBehind: true,
        bus: createRedisPubSubBus({ url: s.store.redisUrl, channel }),
        l2Via: l2Proxy,
      });
      const second = s.instance(keyPrefix, clock, {
        writeBehind: true,
        bus: createRedisPubSubBus({ url: proxy.url(s.store.redisUrl), channel }),
      });
      for (const x of [first, second]) await x.find(schema, 'warm-up');
      await writeUnheard(first, second, id, 3, channel);

      await s.restart({ dropData: true });
      // `first`'s L2 link goes down: the generation read it makes on hearing the reset fails
      // (its L2 deadline), and the link comes back only then.
      l2Proxy.refuse(true);
      l2Proxy.cutAll();
      const failures = () => first.stats().errorsBy.l2 ?? 0;
      const before = failures();
      clock.advance(REFRESH_PASSED); // `second` finds the reset (a read of another key) and tells it
      await second.find(schema, 'finds-the-reset');
      await expect.poll(failures, { timeout: DEADLINE }).toBeGreaterThan(before);
      l2Proxy.refuse(false);
      // `first` reads nothing itself: only its read tried again finds the reset and puts the write back.
      await expect
        .poll(async () => (await second.find(schema, id))?.n ?? null, { timeout: DEADLINE })
        .toBe(3);
      expect((await s.store.stored()).has(id), 'Postgres has not had the flush').toBe(false);
    } finally {
      await l2Proxy.close();
    }
  });
});
