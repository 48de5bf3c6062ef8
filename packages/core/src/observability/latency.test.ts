import { describe, expect, it } from 'vitest';
import { LatencyWindow, measuredTier } from './latency.js';

describe('LatencyWindow', () => {
  it('reports nearest-rank percentiles over the latest 1,024 calls and counts all of them', () => {
    const w = new LatencyWindow();
    for (let i = 1; i <= 100; i++) w.record(i);
    expect(w.summary()).toEqual({ calls: 100, p50Ms: 51, p99Ms: 100, maxMs: 100 });
    // 2,000 more calls of 1 ms push every earlier sample out of the window.
    for (let i = 0; i < 2_000; i++) w.record(1);
    expect(w.summary()).toEqual({ calls: 2_100, p50Ms: 1, p99Ms: 1, maxMs: 1 });
  });
});

describe('measuredTier', () => {
  it('times async methods, failures too, and keeps private fields and sync returns working', async () => {
    class Tier {
      readonly name = 't';
      #secret = 41;
      async read(): Promise<number> {
        return this.#secret + 1;
      }
      async fail(): Promise<never> {
        throw new Error('down');
      }
      size(): number {
        return this.#secret;
      }
      async close(): Promise<number> {
        return this.#secret;
      }
    }
    const calls: string[] = [];
    let t = 0;
    const tier = measuredTier(
      new Tier(),
      'l2',
      (_tier, op, ms) => void calls.push(`${op}:${ms}`),
      () => (t += 5),
    );
    expect(tier.name).toBe('t');
    expect(await tier.read()).toBe(42);
    await expect(tier.fail()).rejects.toThrow('down');
    expect(tier.size()).toBe(41);
    expect(await tier.close()).toBe(41);
    expect(calls).toEqual(['read:5', 'fail:5']);
  });
});
