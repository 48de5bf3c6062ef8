import { manualClock } from '@strata/core/driver';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEADLINE, REFRESH_PASSED, restartSuite } from '../support/restart-suite.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

// Found by CI (regression-tx-delete-told.test.ts, about 1 run in 5 on an idle machine): "the read
// waited for no writer: expected 992.8 to be less than 500". After a Redis restart, A's bus
// subscription came back ~12 ms after B had answered the reset (`restored`, see ResetSettle): pub/sub
// delivers only to who listens, so A never had B's answer, and each read of A's that missed L2
// waited the whole settle (REPLACED_WAIT_MS) for it. Minimised, deterministic: `second`'s
// subscription goes through a TCP proxy, held while `first` finds the reset and answers, then cut.
// Now an instance whose subscription comes back asks (`ask`), and every peer that answered in the
// life it is in now answers again.

const s = restartSuite('settle_unheard');
let proxy: TcpProxy;

beforeAll(async () => {
  proxy = await startTcpProxy(Number(new URL(s.store.redisUrl).port || 6379));
});
afterAll(async () => {
  await proxy?.close();
});

it("a peer's answer sent while this instance's subscription was down is asked for again: its reads do not wait the settle", async () => {
  const schema = s.store.schema('write-behind');
  const clock = manualClock(Date.now());
  // `second`'s subscription through the proxy.
  const { channel, first, second } = s.writeBehindPair('unheard', clock, {
    busUrls: [s.store.redisUrl, proxy.url(s.store.redisUrl)],
  });
  // What goes over the channel, heard by a plain subscriber (the proxy holds only `second`'s).
  const answers: { restored: boolean; ask: boolean; origin: string }[] = [];
  const listener = await s.listen(channel, (raw) => {
    const m = JSON.parse(raw) as { restored?: true; ask?: true; origin: string };
    if (m.restored || m.ask) answers.push({ restored: !!m.restored, ask: !!m.ask, origin: m.origin });
  });
  try {
    for (const x of [first, second]) await x.find(schema, 'warm-up'); // subscribed, knows this Redis life

    proxy.pause(); // `second` hears nothing from here
    await s.restart({ dropData: true });
    clock.advance(REFRESH_PASSED);
    // `first` finds the reset (its read waits for an answer: `second` gives it once it is back).
    const firstRead = first.find(schema, 'finds-the-reset');
    await expect.poll(() => answers.filter((a) => a.restored).length, { timeout: DEADLINE }).toBe(1);
    const firstId = answers[0]!.origin;
    proxy.cutAll(); // `first`'s answer is lost to `second`
    proxy.resume();

    // `second`'s subscription comes back (a gap): it reads its generation and finds the reset.
    const resets = () => second.stats().errorsBy['l2-reset'] ?? 0;
    await expect.poll(resets, { timeout: DEADLINE }).toBe(1);
    expect(await second.find(schema, 'nowhere')).toBeNull();
    // Before: the whole settle (~1,000 ms), run out, for an answer sent before `second` listened again.
    expect(s.ranOut(second), "second's read waited for an answer it had been sent").toBe(0);
    expect(await firstRead).toBeNull();

    // `second` asked once; `first` answered twice (the reset, then the ask), `second` at least once.
    const secondId = answers.find((a) => a.origin !== firstId)?.origin;
    expect(answers.filter((a) => a.origin === secondId && a.ask)).toHaveLength(1);
    expect(answers.filter((a) => a.origin === firstId && a.restored)).toHaveLength(2);
    expect(answers.filter((a) => a.origin === secondId && a.restored).length).toBeGreaterThanOrEqual(1);
  } finally {
    listener.close();
  }
});
