// The API report: every entry point of every published package, its run-time names (the keys of the
// module as vitest loads it, through the `strata-source` condition) and its type-only names (the
// compiler's exports of the entry's source). A name added to or dropped from an entry point fails
// here until the package's api-report.md says so: `npm run api:report` rewrites the reports.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ExportReader,
  publishedPackages,
  renderReport,
  repoRoot,
  type Surface,
  surfaceOf,
} from './api-surface.js';

/** The root of @strata/core holds what an application uses, and no more than this (issue 14). */
const CORE_ROOT_MAX_NAMES = 45;

const packages = publishedPackages();
const entries = packages.flatMap((pkg) => pkg.entries);
const surfaces = new Map<string, Surface>();
let reader: ExportReader;

beforeAll(async () => {
  reader = new ExportReader(entries.map((entry) => entry.source));
  for (const entry of entries) {
    const loaded: Record<string, unknown> = await import(/* @vite-ignore */ entry.specifier);
    surfaces.set(entry.specifier, surfaceOf(entry, Object.keys(loaded), reader));
  }
}, 60_000);

const surface = (specifier: string) => {
  const found = surfaces.get(specifier);
  if (!found) throw new Error(`no entry point ${specifier}`);
  return found;
};

describe.each(packages.map((pkg) => [pkg.name, pkg] as const))('%s', (_name, pkg) => {
  it('exports exactly what its api-report.md lists (npm run api:report rewrites it)', async () => {
    const report = renderReport(
      pkg,
      pkg.entries.map((entry) => surface(entry.specifier)),
    );
    await expect(
      report,
      `${pkg.dir}/api-report.md is out of date: review the change, then run npm run api:report`,
    ).toMatchFileSnapshot(join(repoRoot, pkg.dir, 'api-report.md'));
  });
});

describe('the root of @strata/core', () => {
  const names = () => [...surface('@strata/core').values, ...surface('@strata/core').types];

  it(`holds at most ${CORE_ROOT_MAX_NAMES} names`, () => {
    expect(names().length).toBeGreaterThan(0);
    expect(names().length, names().join(', ')).toBeLessThanOrEqual(CORE_ROOT_MAX_NAMES);
  });

  it('documents every name on its declaration, with an @example', () => {
    const exports = reader.exportsOf(entries.find((entry) => entry.specifier === '@strata/core')!.source);
    const undocumented = names().filter((name) => {
      const docs = reader.docsOf(exports.get(name)!);
      return docs.comment === '' || !docs.tags.includes('example');
    });
    expect(undocumented).toEqual([]);
  });
});
