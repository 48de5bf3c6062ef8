import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { manualClock } from '@strata/core/driver';
import { uniqueName } from '@strata/devstack/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEADLINE, REFRESH_PASSED, restartSuite } from '../support/restart-suite.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

// The settle's named residual (docs/write-behind.md, "What is left": "a reader that knows some
// peers but never heard the writer"): `reader` knew `peer` (it answered the last reset) but not
// `writer`, which started since; only answers made peers. `writer` queued k at 2 (its bus message
// lost to `reader`, as a restart can take it), Redis restarted, `reader` found the reset and ended
// its settle on `peer`'s answer, before `writer` (its L2 link slow) had put k back: it read
// Postgres, below the acknowledged write. Before: "reader reads the writer's queued write: expected
// 1 to be 2". Now a reader also learns its peers from their writes' messages (and asks), so it
// waits for `writer`'s answer (ResetSettle.heard).

const s = restartSuite('settle_writer');
let subProxy: TcpProxy;
let l2Proxy: TcpProxy;

beforeAll(async () => {
  subProxy = await startTcpProxy(Number(new URL(s.store.redisUrl).port || 6379));
  l2Proxy = await startTcpProxy(s.redis.port);
});
afterAll(async () => {
  await subProxy?.close();
  await l2Proxy?.close();
});

it('a reader waits for a writer it heard only through a write, not only for the peers that answered a reset', async () => {
  const schema = s.store.schema('write-behind');
  const clock = manualClock(Date.now());
  const channel = uniqueName('settle_writer_bus');
  const keyPrefix = `${s.store.name}-writer`;
  const bus = (url: string) => createRedisPubSubBus({ url, channel });
  const reader = s.instance(keyPrefix, clock, {
    writeBehind: true,
    bus: bus(subProxy.url(s.store.redisUrl)),
  });
  const peer = s.instance(keyPrefix, clock, { writeBehind: true, bus: bus(s.store.redisUrl) });
  // Who answers, as a plain subscriber hears it.
  const restored: string[] = [];
  const witness = await s.listen(channel, (raw) => {
    if ((JSON.parse(raw) as { restored?: true }).restored) restored.push(raw);
  });
  try {
    for (const x of [reader, peer]) await x.find(schema, 'warm-up');
    // A first reset: `peer` answers it, so `reader` knows `peer`.
    await s.restart({ dropData: true });
    clock.advance(REFRESH_PASSED);
    await reader.find(schema, 'first-reset');
    await expect.poll(() => restored.length, { timeout: DEADLINE }).toBeGreaterThanOrEqual(1);

    // `writer` starts after it (its L2 through a proxy), writes k (heard, flushed), then k at 2.
    const writer = s.instance(keyPrefix, clock, {
      writeBehind: true,
      bus: bus(s.store.redisUrl),
      l2Via: l2Proxy,
    });
    await writer.set(schema, { id: 'k', n: 1, label: 'v1' });
    await writer.flushDirty();
    await expect.poll(async () => (await reader.find(schema, 'k'))?.n, { timeout: DEADLINE }).toBe(1);
    const gaps = reader.stats().busGaps;
    subProxy.pause();
    await writer.set(schema, { id: 'k', n: 2, label: 'v2' }); // acknowledged, queued
    await expect.poll(() => subProxy.queued, { timeout: DEADLINE }).toBeGreaterThan(0);
    subProxy.cutAll(); // its message is lost to `reader`
    subProxy.resume();
    await expect.poll(() => reader.stats().busGaps, { timeout: DEADLINE }).toBeGreaterThan(gaps);

    // The second reset; `writer`'s L2 link held: it hears the reset but cannot answer yet.
    await s.restart({ dropData: true });
    l2Proxy.pause();
    clock.advance(REFRESH_PASSED);
    const before = restored.length;
    const read = reader.find(schema, 'k');
    // `peer` answers; only then does `writer`'s link pass again.
    await expect.poll(() => restored.length, { timeout: DEADLINE }).toBeGreaterThan(before);
    l2Proxy.resume();
    expect((await read)?.n ?? null, "reader reads the writer's queued write").toBe(2);
    expect((await s.store.stored()).get('k'), 'Postgres has not had the flush').toBe(1);
    expect(reader.stats().errorsBy['l2-reset'] ?? 0).toBeGreaterThanOrEqual(2);
    await writer.flushDirty();
    expect((await s.store.stored()).get('k')).toBe(2);
  } finally {
    l2Proxy.resume();
    witness.close();
  }
});
