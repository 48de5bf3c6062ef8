import { describe, expect, it } from 'vitest';
import { RestoreChain } from './l2-reset.js';

/** A restore that runs until `end()`; `runs` counts how many began. */
function gatedRestores() {
  const ends: (() => void)[] = [];
  let runs = 0;
  return {
    restore: () => {
      runs += 1;
      return new Promise<void>((resolve) => ends.push(resolve));
    },
    end: () => ends.shift()!(),
    get runs() {
      return runs;
    },
  };
}

describe('RestoreChain', () => {
  it('runs a restore at once; one asked for while it runs runs once after it, however many asked', async () => {
    const chain = new RestoreChain();
    const r = gatedRestores();
    const running = chain.request(r.restore);
    expect(running).toBeDefined();
    expect(chain.running).toBe(running);
    expect(r.runs).toBe(1);
    // Two more resets found while it runs: joined, one more restore once it ends.
    expect(chain.request(r.restore)).toBeUndefined();
    expect(chain.request(r.restore)).toBeUndefined();
    r.end();
    await expect.poll(() => r.runs).toBe(2);
    expect(chain.running, 'the chain is still under way').toBe(running);
    r.end();
    await running;
    expect(r.runs).toBe(2);
    expect(chain.running).toBeUndefined();
    // Over: the next asks starts a new one.
    const next = chain.request(r.restore);
    expect(next).not.toBe(running);
    expect(r.runs).toBe(3);
    r.end();
    await next;
  });

  it('a reset asked for during the chained restore makes one more', async () => {
    const chain = new RestoreChain();
    const r = gatedRestores();
    const running = chain.request(r.restore);
    chain.request(r.restore);
    r.end();
    await expect.poll(() => r.runs).toBe(2);
    chain.request(r.restore); // found while the second runs
    r.end();
    await expect.poll(() => r.runs).toBe(3);
    r.end();
    await running;
    expect(chain.running).toBeUndefined();
  });
});
