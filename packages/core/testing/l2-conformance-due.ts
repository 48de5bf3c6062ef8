import { expect, it } from 'vitest';
import { DUE_PEEK } from '../src/l2/due-script.js';
import type { L2Suite } from './l2-conformance.js';
import { runOrderedPut, runOrderedPutEnqueue, runSeedCounter } from './l2-helpers.js';

/**
 * A write-behind script's deadline on Redis' clock (PAST_DUE): past it, ORDERED_PUT and
 * ORDERED_PUT_ENQUEUE write nothing and reply {-6}; and DUE_PEEK, what a conditional queued write
 * is settled by (Redis' clock and the keys' pending index entries in one request).
 */
export function describeDueScripts(suite: L2Suite): void {
  const { key } = suite;
  const redisNow = async () =>
    Number(((await suite.l2.run(DUE_PEEK, [key('due:none'), key('due:none:row')], [])) as unknown[])[0]);

  it('ORDERED_PUT past its deadline writes nothing and replies {-6}; before it, writes as ever', async () => {
    const keys = { counter: key('due:counter'), search: key('due:search') };
    await runSeedCounter(suite.l2, keys.counter, 10);
    const row = { key: key('due:row'), kind: 'r' as const, payload: 'p' };
    const now = await redisNow();
    expect(await runOrderedPut(suite.l2, keys, [row], { pending: true, due: now - 1 })).toEqual([-6]);
    expect(await suite.l2.getMany([row.key])).toEqual([null]);
    expect(await suite.raw.get(keys.counter)).toBe('10');
    expect(await runOrderedPut(suite.l2, keys, [row], { pending: true, due: now + 60_000 })).toEqual([
      11, 1, 0,
    ]);
  });

  it('ORDERED_PUT_ENQUEUE past its deadline enqueues nothing either', async () => {
    const k = {
      counter: key('due:enq:counter'),
      search: key('due:enq:search'),
      stream: key('due:enq:stream'),
      field: 'w',
    };
    await runSeedCounter(suite.l2, k.counter, 5);
    const row = { key: key('due:enq:row'), kind: 'r' as const, payload: 'p', head: '{"version":' };
    expect(await runOrderedPutEnqueue(suite.l2, k, [row], { due: (await redisNow()) - 1 })).toEqual([-6]);
    expect(await suite.raw.pttl(k.stream)).toBe(-2);
    expect(await suite.l2.getMany([row.key])).toEqual([null]);
  });

  it("DUE_PEEK: Redis' time in ms, and a row key's pending index entry as stored (nil for none)", async () => {
    const keys = { counter: key('due:peek:counter'), search: key('due:peek:search') };
    await runSeedCounter(suite.l2, keys.counter, 20);
    const row = { key: key('due:peek:row'), kind: 'r' as const, payload: '{"id":"x"}' };
    await runOrderedPut(suite.l2, keys, [row], { pending: true });
    const index = `${keys.counter}:pending`;
    const [now, entry] = (await suite.l2.run(DUE_PEEK, [index, row.key], [])) as unknown[];
    expect(Math.abs(Number(now) - Date.now())).toBeLessThan(5_000);
    expect(entry).toBe('21;r;{"id":"x"}');
    expect(((await suite.l2.run(DUE_PEEK, [index, key('due:peek:none')], [])) as unknown[])[1]).toBeNull();
  });
}
