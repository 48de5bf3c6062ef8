import { describe, expect, it } from 'vitest';
import { ReplacedWaits } from './replaced-wait.js';

/** A monotonic clock moved by hand: the deadline is checked on it, the wait's timer is real. */
function waitsAt(start = 1_000) {
  const at = { now: start };
  return { at, waits: new ReplacedWaits(() => at.now) };
}

describe('ReplacedWaits', () => {
  it('a wait ends when its key is told at the version it waits for, or newer; not older', async () => {
    const { waits } = waitsAt();
    let ranOut = 0;
    waits.ranOut = () => ranOut++;
    waits.expect([['k', 5]], 60_000);
    let ended = false;
    const waiting = waits.wait(['k']).then(() => {
      ended = true;
    });
    waits.reached('k', 4);
    await Promise.resolve();
    expect(ended).toBe(false);
    expect(waits.wasReached('k')).toBe(false);
    waits.reached('k', 6);
    await waiting;
    expect(ended).toBe(true);
    expect(waits.wasReached('k')).toBe(true);
    expect(waits.version('k')).toBe(5);
    expect(ranOut, 'ended by the message').toBe(0);
  });

  it('a wait ends at the deadline (one for every key of a reset), and then nothing waits', async () => {
    const { at, waits } = waitsAt();
    let ranOut = 0;
    waits.ranOut = () => ranOut++;
    waits.expect(
      [
        ['a', 1],
        ['b', 2],
      ],
      30,
    );
    expect(waits.size).toBe(2);
    const started = performance.now();
    await waits.wait(['a', 'b']);
    expect(performance.now() - started).toBeGreaterThanOrEqual(20);
    expect(ranOut, 'the deadline ended it').toBe(1);
    at.now += 30;
    expect(waits.size).toBe(0);
    expect(waits.version('a')).toBeUndefined();
    // Past the deadline a wait returns at once.
    waits.expect([['c', 3]], 0);
    await waits.wait(['c']);
    expect(waits.size).toBe(0);
    expect(ranOut, 'a wait past its deadline waited for nothing').toBe(1);
  });

  it('done ends the key: waits on it end, and it waits no more', async () => {
    const { waits } = waitsAt();
    waits.expect([['k', 5]], 60_000);
    const waiting = waits.wait(['k']);
    waits.done('k');
    await waiting;
    expect(waits.version('k')).toBeUndefined();
    expect(waits.size).toBe(0);
  });

  it('with no keys named (a search), every key that waits is waited for, and none is ended', async () => {
    const { waits } = waitsAt();
    waits.expect(
      [
        ['a', 1],
        ['b', 2],
      ],
      60_000,
    );
    let ended = false;
    const waiting = waits.wait().then(() => {
      ended = true;
    });
    waits.reached('a', 1);
    await Promise.resolve();
    expect(ended).toBe(false);
    waits.reached('b', 3);
    await waiting;
    expect(ended).toBe(true);
    expect(waits.size).toBe(2);
  });

  it('a key not waiting, or told already, is not waited for', async () => {
    const { waits } = waitsAt();
    waits.expect([['k', 5]], 60_000);
    waits.reached('k', 5);
    await waits.wait(['k', 'other']);
    expect(waits.size).toBe(1);
  });
});
