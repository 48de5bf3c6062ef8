import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsumer, type PackedPackage, pack, run } from './consumer-project.js';
import { type Resolution, typecheck, writeImportAll } from './typecheck-consumer.js';
import { assertBuilt, publishablePackages, repoRoot } from './workspace-packages.js';

// The packages as npm would publish them: packed from the built workspaces, installed from the
// tarballs into a project outside the repo, then type-checked, imported and required there.
const packages = publishablePackages();
const entries = packages.flatMap((pkg) => pkg.entries);
// The vitest helpers import vitest, an optional peer: they load only inside a vitest run.
const runtimeEntries = entries.filter((entry) => !entry.specifier.endsWith('/testing'));
/** One export each runtime entry point must have (a new entry point must be added here). */
const KEY_EXPORT: Record<string, string> = {
  '@strata/core': 'Strata',
  '@strata/core/driver': 'withTimeout',
  '@strata/core/admin': 'reencrypt',
  '@strata/core/upstash': 'createUpstashL2',
  '@strata/core/drizzle': 'createDrizzleL3',
  '@strata/core/msgpack': 'msgpackCodec',
  '@strata/core/otel': 'openTelemetryMetrics',
  '@strata/adapter-node': 'createStrata',
  '@strata/adapter-node/redis-tcp': 'createIoredisL2',
  '@strata/adapter-workers': 'createStrata',
  '@strata/adapter-workers/hono': 'strata',
  '@strata/adapter-workers/cloudflare': 'handleWriteBatch',
  '@strata/devstack': 'startDevstack',
  '@strata/devstack/redis-cluster': 'startRedisCluster',
  '@strata/devstack/postgres-replica': 'startPostgresReplica',
  '@strata/devstack/redis-replica': 'startRedisReplica',
  '@strata/devstack/seeded-random': 'seededRandom',
};
const consumerScripts = new URL('./consumer/', import.meta.url);

let workDir: string | undefined;
let consumer: string | undefined;
let packed: PackedPackage[] = [];
let importAll = '';

beforeAll(async () => {
  assertBuilt(packages);
  workDir = await mkdtemp(join(tmpdir(), 'strata-pack-'));
  packed = await pack(packages, workDir);
  consumer = await createConsumer(packed.map((pkg) => pkg.tarball));
  importAll = await writeImportAll(consumer, entries);
  for (const script of ['smoke.mjs', 'require.cjs']) {
    await copyFile(new URL(script, consumerScripts), join(consumer, script));
  }
}, 240_000);

afterAll(async () => {
  for (const dir of [workDir, consumer]) if (dir) await rm(dir, { recursive: true, force: true });
});

it('the publishable packages are the four, with every entry point accounted for', () => {
  expect(packages.map((pkg) => pkg.name).sort()).toEqual([
    '@strata/adapter-node',
    '@strata/adapter-workers',
    '@strata/core',
    '@strata/devstack',
  ]);
  expect(Object.keys(KEY_EXPORT).sort()).toEqual(runtimeEntries.map((entry) => entry.specifier).sort());
});

describe.each(packages.map((pkg) => [pkg.name, pkg] as const))('the tarball of %s', (name, pkg) => {
  const files = () => packed.find((entry) => entry.name === name)?.files ?? [];

  it('carries README, LICENSE, each entry point with its types, and its bins', async () => {
    expect(files()).toEqual(expect.arrayContaining(['README.md', 'LICENSE', 'package.json']));
    for (const entry of pkg.entries)
      expect(files()).toEqual(expect.arrayContaining([entry.types, entry.runtime]));
    expect(files()).toEqual(expect.arrayContaining(Object.values(pkg.bins)));
    // The repo's license, the one package.json names.
    const license = await readFile(join(pkg.dir, 'LICENSE'), 'utf8');
    expect(license).toBe(await readFile(join(repoRoot, 'LICENSE'), 'utf8'));
    expect(license).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/);
  });

  it('carries no sources, tests or fixtures: only dist, bin and the three root files', () => {
    const root = new Set(['README.md', 'LICENSE', 'package.json']);
    expect(files().filter((file) => !root.has(file) && !/^(dist|bin)\//.test(file))).toEqual([]);
    const unwanted = files().filter(
      (file) =>
        /(^|\/)(src|test|tests|test-node|__tests__|fixtures?)\//.test(file) ||
        /\.(test|spec)\.[cm]?[jt]s$/.test(file) ||
        (/\.[cm]?ts$/.test(file) && !/\.d\.[cm]?ts$/.test(file)),
    );
    expect(unwanted).toEqual([]);
  });
});

describe('a strict TypeScript consumer (skipLibCheck false) of every entry point', () => {
  const resolutions: Resolution[] = ['bundler', 'node16', 'nodenext'];
  it.concurrent.each(resolutions)(
    'type-checks under moduleResolution %s',
    async (resolution) => {
      const result = await typecheck(consumer!, importAll, resolution);
      expect(result.errors).toEqual([]);
      // Each entry resolved to the declarations its package.json names, not to an implicit any.
      for (const pkg of packages) {
        for (const entry of pkg.entries) {
          const declaration = `/node_modules/${pkg.name}/${entry.types}`;
          expect(
            result.checked.some((file) => file.endsWith(declaration)),
            declaration,
          ).toBe(true);
        }
      }
    },
    120_000,
  );
});

it('an ESM script imports every runtime entry point and round-trips a row through Strata', async () => {
  const specifiers = runtimeEntries.map((entry) => entry.specifier);
  const outcome = await run(process.execPath, ['smoke.mjs', ...specifiers], consumer!);
  expect(outcome, outcome.stderr).toMatchObject({ code: 0 });
  const result = JSON.parse(outcome.stdout.trim().split('\n').at(-1)!);
  for (const [specifier, name] of Object.entries(KEY_EXPORT))
    expect(result.exports[specifier]).toContain(name);
  expect(result.row).toEqual({ id: 'p1', level: 3 });
  expect(result.stored).toEqual([{ id: 'p1', level: 3 }]);
  expect(result.migrations).toBe(1);
}, 60_000);

it('CommonJS require() loads every runtime entry point', async () => {
  const specifiers = runtimeEntries.map((entry) => entry.specifier);
  const outcome = await run(process.execPath, ['require.cjs', ...specifiers], consumer!);
  expect(outcome, outcome.stderr).toMatchObject({ code: 0 });
  const exports = JSON.parse(outcome.stdout.trim().split('\n').at(-1)!) as Record<string, string[]>;
  for (const [specifier, name] of Object.entries(KEY_EXPORT)) expect(exports[specifier]).toContain(name);
});

it.each(packages.flatMap((pkg) => Object.keys(pkg.bins)))('the installed %s bin runs', async (bin) => {
  const outcome = await run(join(consumer!, 'node_modules', '.bin', bin), ['--help'], consumer!);
  expect(outcome, outcome.stderr).toMatchObject({ code: 0 });
  expect(outcome.stdout).toContain(bin);
});
