import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ESM script without types
import { fill, renderPages } from './docs.mjs';
import { brokenLinks, docPages, tsSamples, typecheckSamples } from './docs-check.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const readJson = (p: string) => JSON.parse(readFileSync(`${root}${p}`, 'utf8'));
const data = () => ({
  bench: readJson('bench/results/latest.json'),
  reliability: readJson('docs/data/reliability.json'),
  load: readJson('bench/results/load-latest.json'),
});

describe('docs/performance.md and docs/reliability.md are rendered from the runs', () => {
  it('the committed pages are what their data renders (npm run docs --check)', () => {
    const run = spawnSync(process.execPath, ['scripts/docs.mjs', '--check'], { cwd: root, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('a number changed in the results changes the page: none is typed by hand', () => {
    const changed = data();
    const l1 = changed.bench.results.find((s: { key: string }) => s.key === 'l1');
    const row = l1.rows.find((r: { name: string }) => r.name === 'Strata get');
    row.median = row.median * 2;
    const before = renderPages(data()).find((p: { file: string }) => p.file === 'docs/performance.md').text;
    const after = renderPages(changed).find((p: { file: string }) => p.file === 'docs/performance.md').text;
    expect(after).not.toBe(before);
    changed.reliability.table = changed.reliability.table.replace(
      /\| \*\*total\*\* \| \d+/,
      '| **total** | 999',
    );
    const reliability = renderPages(changed).find(
      (p: { file: string }) => p.file === 'docs/reliability.md',
    ).text;
    expect(reliability).toContain('| **total** | 999');
    const loadPage = (d: ReturnType<typeof data>) =>
      renderPages(d).find((p: { file: string }) => p.file === 'docs/load.md').text;
    const cell = changed.load.cells[0];
    cell.opsPerSec = 987_654;
    expect(loadPage(changed)).toContain('| 988,000 |');
    expect(loadPage(data())).not.toContain('| 988,000 |');
  });

  it('fills ratios and medians from the run, and refuses an unknown placeholder', () => {
    const d = data();
    expect(fill('{{ratio:L1 hit get|lru-cache.get}}', d)).toBe('baseline');
    expect(fill('{{ratio:L1 hit get|Strata get}}', d)).toMatch(/^\d+\.\d\d×$/);
    expect(fill('{{median:L1 hit get|Strata get}}', d)).toMatch(/^\d+(\.\d+)? (ns|µs|ms)$/);
    expect(() => fill('{{bench.nope}}', d)).toThrow(/unknown placeholder \{\{bench\.nope\}\}/);
    expect(() => fill('{{ratio:L1 hit get|nobody}}', d)).toThrow(/no row "nobody"/);
  });
});

describe('the pages a newcomer reads (README.md, docs/*.md) hold what they show', () => {
  it('every relative link resolves, to its file and to its heading', () => {
    expect(docPages().flatMap((page) => brokenLinks(page))).toEqual([]);
    // The check itself sees both kinds of break, and takes a heading with code in it.
    const text = '[a](docs/nope.md) [b](docs/cli.md#no-such-heading) [c](docs/cli.md#strata-relay)';
    expect(brokenLinks('README.md', text)).toEqual([
      'README.md: docs/nope.md (no such file)',
      'README.md: docs/cli.md#no-such-heading (no such heading)',
    ]);
  });

  it("docs/workers.md's bundle budget is the one bundle-budget.test.ts enforces", () => {
    const test = readFileSync(`${root}packages/adapter-workers/test-node/bundle-budget.test.ts`, 'utf8');
    const budget = /const BUDGET_GZIP = ([\d.]+) \* 1024;/.exec(test)?.[1];
    expect(budget).toBeDefined();
    const page = readFileSync(`${root}docs/workers.md`, 'utf8').replace(/\s+/g, ' ');
    expect(page).toContain(`bundle-budget.test.ts\` measures it on every run and fails above ${budget} KiB.`);
  });

  it('every ```ts sample type-checks against the built packages, and a wrong one is caught at its line', () => {
    if (!existsSync(`${root}packages/core/dist/index.d.ts`))
      throw new Error('the samples are checked against dist/: run `npm run build` first');
    const samples = tsSamples();
    expect(samples.length).toBeGreaterThanOrEqual(20);
    const wrong = {
      page: 'docs/example.md',
      line: 10,
      code: "import { Strata } from '@strata/core';\n\nnew Strata({ l2, l3, schemas, keyprefix: 'shop' });\n",
    };
    const errors = typecheckSamples([...samples, wrong]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^docs\/example\.md:12: error TS\d+: .*'keyprefix'/);
  }, 120_000);
});
