import { describe, expect, it } from 'vitest';
import { runtimeTimer } from '../resilience/wait.js';
import { RestoreChain } from './l2-reset.js';

const real = { timer: runtimeTimer, now: () => Date.now() };

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
    const chain = new RestoreChain(60_000, real);
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
    const chain = new RestoreChain(60_000, real);
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

  // In a Worker a pass may belong to a request that ended: its fetches never settle.
  it('a pass out past its bound: wait() drops it and runs the restore again; its late end clears nothing', async () => {
    const chain = new RestoreChain(50, real);
    const r = gatedRestores();
    const tracked: Promise<void>[] = [];
    const first = chain.request(r.restore, (work) => tracked.push(work));
    const waited = chain.wait();
    await expect.poll(() => r.runs).toBe(2);
    const second = chain.running;
    expect(second).not.toBe(first);
    expect(tracked).toEqual([first, second]);
    r.end(); // the first, late: the second still runs
    await first;
    expect(chain.running).toBe(second);
    r.end();
    await waited;
    expect(chain.running).toBeUndefined();
  });
});
