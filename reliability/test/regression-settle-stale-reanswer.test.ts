import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { manualClock } from '@strata/core/driver';
import { uniqueName } from '@strata/devstack/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEADLINE, REFRESH_PASSED, restartSuite } from '../support/restart-suite.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

// Found by reading coherence.ts while hunting flaky tests (helper "flaky"): a peer's `ask` (its
// subscription came back) is answered again 25 ms later (ASK_REPLY_MS) by an instance that answered
// the reset of the life it is in. Whether it did was checked when the ask arrived; the answer then
// named the life the instance was in when the timer fired. An ask heard just before this instance
// found the NEXT reset (a second restart: the asker's gap and the reset's whole-schema message come
// together) was answered in the new life 25 ms later, while this instance was still putting its
// unflushed writes back: the asker's settle ended on an answer that was not one, and its read of a
// key whose message the restart took went to Postgres, below an acknowledged write.
// Minimised: `first` answered reset 1; it writes `k` while `second`'s subscription is held (the
// message is lost); Redis restarts (reset 2); `second`'s subscription comes back: it asks, and finds
// reset 2. `first` hears the ask and the reset together, and its restore's Postgres read is held.
// Before the fix (6 runs in 6): "AssertionError: second reads the write whose message it never got:
// expected null to be 5" and "first answered reset 2 before its restore told k: expected
// [ 'restored' ] to deeply equal [ 'k', 'restored' ]". Now the answer to an ask goes out only if
// this instance still answered the life it is in when the timer fires.

const s = restartSuite('settle_reanswer');
let proxyF: TcpProxy;
let proxyS: TcpProxy;

beforeAll(async () => {
  const port = Number(new URL(s.store.redisUrl).port || 6379);
  [proxyF, proxyS] = await Promise.all([startTcpProxy(port), startTcpProxy(port)]);
});
afterAll(async () => {
  await Promise.all([proxyF?.close(), proxyS?.close()]);
});

interface Heard {
  origin: string;
  what: 'restored' | 'ask' | 'all' | 'k' | 'other';
  boot: string | undefined;
}

it('an ask heard just before the next reset is not answered in that life before the restore', async () => {
  const schema = s.store.schema('write-behind');
  const clock = manualClock(Date.now());
  const channel = uniqueName('settle_reanswer_bus');
  const keyPrefix = `${s.store.name}-reanswer`;
  // `first`: its bus and its Postgres (the restore's read) through proxies; `second`: its bus.
  const first = s.instance(keyPrefix, clock, {
    writeBehind: true,
    proxied: true,
    bus: createRedisPubSubBus({ url: proxyF.url(s.store.redisUrl), channel }),
  });
  const second = s.instance(keyPrefix, clock, {
    writeBehind: true,
    bus: createRedisPubSubBus({ url: proxyS.url(s.store.redisUrl), channel }),
  });
  const heard: Heard[] = [];
  const listener = await s.listen(channel, (raw) => {
    const m = JSON.parse(raw) as {
      origin: string;
      ids: string[] | null;
      restored?: true;
      ask?: true;
      ticks?: string[];
    };
    // An ask may carry its sender's answer too (it answered the life it is in): an ask first.
    const what = m.ask
      ? 'ask'
      : m.restored
        ? 'restored'
        : m.ids === null
          ? 'all'
          : m.ids.includes('k')
            ? 'k'
            : 'other';
    const tick = m.ticks?.[0];
    heard.push({ origin: m.origin, what, boot: tick?.slice(0, tick.lastIndexOf(':')) });
  });
  try {
    for (const x of [first, second]) await x.find(schema, 'warm-up');
    const resets = () => second.stats().errorsBy['l2-reset'] ?? 0;

    // Reset 1: both find it and answer; each knows the other as a peer.
    await s.restart({ dropData: true });
    clock.advance(REFRESH_PASSED);
    await Promise.all([first.find(schema, 'after-reset-1'), second.find(schema, 'after-reset-1')]);
    await expect
      .poll(() => new Set(heard.filter((h) => h.what === 'restored').map((h) => h.origin)).size, {
        timeout: DEADLINE,
      })
      .toBe(2);

    // `first` writes k while `second` hears nothing; then reset 2.
    proxyS.pause();
    await first.set(schema, { id: 'k', n: 5, label: 'first-v5' });
    await expect.poll(() => proxyS.queued, { timeout: DEADLINE }).toBeGreaterThan(0);
    await expect.poll(() => heard.some((h) => h.what === 'k'), { timeout: DEADLINE }).toBe(true);
    const firstId = heard.find((h) => h.what === 'k')!.origin;
    const secondId = heard.find((h) => h.what === 'restored' && h.origin !== firstId)!.origin;
    await s.restart({ dropData: true });
    proxyF.pause(); // `first` hears the ask and the reset together (below)
    proxyS.cutAll(); // k's message is lost to `second`
    proxyS.resume();
    // `second`'s subscription comes back: it asks, finds reset 2, and tells it (a whole-schema message).
    await expect.poll(resets, { timeout: DEADLINE }).toBe(2);
    const isAsk = (h: Heard) => h.origin === secondId && h.what === 'ask';
    await expect.poll(() => heard.some(isAsk), { timeout: DEADLINE }).toBe(true);
    const ask = heard.findIndex(isAsk);
    await expect
      .poll(() => heard.slice(ask).some((h) => h.origin === secondId && h.what === 'all'), {
        timeout: DEADLINE,
      })
      .toBe(true);
    const life2 = heard.slice(ask).find((h) => h.origin === secondId && h.what === 'all')!.boot;
    await expect.poll(() => proxyF.queued, { timeout: DEADLINE }).toBeGreaterThan(0);

    // `first`'s restore reads Postgres first: held a while (longer than an ask's 25 ms reply).
    s.proxy.pause();
    proxyF.resume();
    const read = second.find(schema, 'k');
    await expect.poll(() => s.proxy.queued, { timeout: DEADLINE }).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 150)); // the fault: 6 × ASK_REPLY_MS (not a synchronisation)
    s.proxy.resume();

    expect.soft((await read)?.n ?? null, 'second reads the write whose message it never got').toBe(5);
    await expect
      .poll(() => heard.some((h) => h.origin === firstId && h.what === 'restored' && h.boot === life2), {
        timeout: DEADLINE,
      })
      .toBe(true);
    const order = heard
      .slice(ask)
      .filter((h) => h.origin === firstId && (h.what === 'k' || (h.what === 'restored' && h.boot === life2)))
      .map((h) => h.what);
    expect(order, 'first answered reset 2 before its restore told k').toEqual(['k', 'restored']);
  } finally {
    proxyF.resume();
    proxyS.resume();
    listener.close();
  }
});
