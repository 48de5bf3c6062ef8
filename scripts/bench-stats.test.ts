import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ESM script without types
import { ratioOf, ratioWithSpread, summaryTable } from '../bench/lib/render.mjs';
// @ts-expect-error: a plain ESM script without types
import { combineRuns } from '../bench/lib/runs.mjs';
// @ts-expect-error: a plain ESM script without types
import { interleave, median, seededRandom, shuffled, spread } from '../bench/lib/stats.mjs';

type Row = { section: string; name: string; median: number; p99: number; base?: string };
const row = (name: string, ns: number, base = 'raw'): Row => ({
  section: 'L2',
  name,
  median: ns,
  p99: ns * 2,
  base,
});
const run = (raw: number, strata: number) => ({
  rows: [row('raw', raw), row('Strata', strata)],
  targets: [],
});

describe('bench statistics: medians, spreads and runs', () => {
  it('median averages the middle two of an even count; spread gives min and max', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
    expect(spread([1.5, 1.1, 1.2])).toEqual({ median: 1.2, min: 1.1, max: 1.5, values: [1.5, 1.1, 1.2] });
    expect(spread([Number.NaN, 2]).median).toBe(2);
  });

  it('shuffles every item exactly once, reproducibly from a seed', () => {
    const items = [...Array(20).keys()];
    const a = shuffled(items, seededRandom(7));
    expect([...a].sort((x: number, y: number) => x - y)).toEqual(items);
    expect(a).not.toEqual(items);
    expect(shuffled(items, seededRandom(7))).toEqual(a);
  });

  it('interleaves per iteration: each iteration samples every contestant once, in varying order', async () => {
    const order: string[] = [];
    const contestants = ['a', 'b', 'c'].map((name) => ({ name, sync: true, op: () => order.push(name) }));
    const stats = await interleave(contestants, { iterations: 30, warmup: 0, seed: 1 });
    expect(stats.get('a').n).toBe(30);
    const triples = Array.from({ length: 30 }, (_, i) => order.slice(i * 3, i * 3 + 3));
    for (const t of triples) expect([...t].sort()).toEqual(['a', 'b', 'c']);
    expect(new Set(triples.map((t) => t.join(''))).size).toBeGreaterThan(3);
  });

  it('folds runs: median of the medians, median of the per-run ratios with their min and max', () => {
    // Ratios per run: 1.5, 2.2, 1.6 (median 1.6); the ratio of the median times would be 220 / 100.
    const combined = combineRuns([run(100, 150), run(100, 220), run(200, 320)]);
    const strata = combined.rows[1];
    expect(strata.runs).toEqual([150, 220, 320]);
    expect(strata.median).toBe(220);
    expect(strata.ratio.median).toBeCloseTo(1.6);
    expect(strata.ratio.min).toBeCloseTo(1.5);
    expect(strata.ratio.max).toBeCloseTo(2.2);
    expect(combined.rows[0].ratio).toBeUndefined(); // the baseline has none
    expect(combined.runCount).toBe(3);
    const suite = { ...combined, load: [{ before: [0.5], after: [1.25] }] };
    expect(ratioOf(suite, strata)).toBe('1.60×');
    expect(ratioWithSpread(suite, strata)).toBe('1.60× (1.50–2.20)');
    expect(summaryTable([suite]).at(-1)).toBe('| L2 | Strata | 220 ns | 1.60× (1.50–2.20) | 3 | 0.50–1.25 |');
  });

  it('a single run stays as it was; targets of several runs list each value, met by majority', () => {
    const one = run(100, 150);
    expect(combineRuns([one])).toBe(one);
    const t = (value: string, met: boolean) => ({ ...run(1, 1), targets: [{ target: 'x', value, met }] });
    const [target] = combineRuns([t('1.0×', true), t('1.2×', false), t('1.0×', true)]).targets;
    expect(target.value).toBe('1.0× · 1.2× · 1.0×');
    expect(target.met).toBe(true);
  });
});
