import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ESM script without types
import { histogram, merge, quantileOf, record, toJson } from '../bench/lib/histogram.mjs';
// @ts-expect-error: a plain ESM script without types
import { zipfSampler } from '../bench/lib/zipf.mjs';
// @ts-expect-error: a plain ESM script without types
import { loadCell, loadTable } from '../bench/load-instances/render.mjs';
// @ts-expect-error: a plain ESM script without types
import { canonical } from '../bench/load-instances/rows.mjs';

describe('load bench: histograms, Zipf keys, rows and its table', () => {
  it('merged histograms give the quantiles of all their samples, within a bucket (2 %)', () => {
    const a = histogram();
    const b = histogram();
    // 1 … 1,000 µs split over two "children": the p50 of the whole is 500 µs, the p99 990 µs.
    for (let us = 1; us <= 1_000; us++) record(us % 2 ? a : b, us * 1_000);
    const all = merge([toJson(a), toJson(b)]);
    expect(all.n).toBe(1_000);
    for (const [q, want] of [
      [0.5, 500_000],
      [0.99, 990_000],
      [1, 1_000_000],
    ] as const) {
      const got = quantileOf(all, q);
      expect(got).toBeGreaterThanOrEqual(want);
      expect(got).toBeLessThanOrEqual(want * 1.02);
    }
    expect(quantileOf(histogram(), 0.5)).toBeNaN();
  });

  it('Zipf(1) over 10,000 keys: rank 0 draws 1/H(10,000) of the calls, rank 1 half as many', () => {
    const next = zipfSampler({ keys: 10_000, s: 1, seed: 3 });
    const counts = new Map<number, number>();
    const draws = 200_000;
    for (let i = 0; i < draws; i++) {
      const r = next();
      counts.set(r, (counts.get(r) ?? 0) + 1);
    }
    let harmonic = 0;
    for (let k = 1; k <= 10_000; k++) harmonic += 1 / k;
    expect((counts.get(0) ?? 0) / draws).toBeCloseTo(1 / harmonic, 2);
    expect((counts.get(1) ?? 0) / draws).toBeCloseTo(1 / harmonic / 2, 2);
    expect(Math.max(...counts.keys())).toBeLessThan(10_000);
  });

  it('rows compare by id, level and updatedAt, as a Date or as the ISO string of JSON', () => {
    const at = new Date('2026-12-04T10:00:00.123Z');
    expect(canonical({ id: 'lp1', level: 7, updatedAt: at })).toBe(
      canonical({ id: 'lp1', level: 7, updatedAt: at.toISOString() }),
    );
    expect(canonical({ id: 'lp1', level: 8, updatedAt: at })).not.toBe(
      canonical({ id: 'lp1', level: 7, updatedAt: at }),
    );
    expect(canonical(null)).toBe('absent');
  });

  it('the table says no when a tier disagreed, and a page cannot cite a cell the run lacks', () => {
    const cell = (n: number, opsPerSec: number, mismatchCount: number) => ({
      setup: 'cluster',
      lib: 'strata',
      n,
      opsPerSec,
      ops: { errors: 0 },
      get: { p50: 20_000, p99: 2_000_000 },
      set: { p50: 2_000_000, p99: 9_000_000 },
      l3PerSec: { reads: 0, writes: 300, total: 300 },
      l1HitShare: 0.7,
      check: {
        sample: 200,
        agrees: mismatchCount === 0,
        l2: { inL2: 200, mismatchCount },
        instances: Array.from({ length: n }, () => ({ agreedAfterMs: 12, mismatchCount })),
      },
      load: { before: [1, 1, 1], after: [2, 1, 1] },
    });
    const run = { cells: [cell(1, 1_000, 0), cell(2, 1_500, 1)], failures: [] };
    const [, , one, two] = loadTable(run);
    expect(one).toContain('| 1.00× |');
    expect(one).toContain('yes (200 keys, 200 in L2, every instance within 12 ms)');
    expect(two).toContain('| 1.50× |');
    expect(two).toContain('**no**: 1 of 200 L2 rows differ; 2 of 2 instances still differ');
    expect(loadCell(run, 'cluster', 'strata', 2, 'scale')).toBe('1.50×');
    expect(() => loadCell(run, 'cluster', 'strata', 4, 'ops')).toThrow(/no cell cluster\/strata\/N=4/);
  });
});
