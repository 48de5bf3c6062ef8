// What `import '@strata/core'` loads: the root, bundled from source as a Worker's bundler would,
// holds none of the drivers. Each backend is a subpath of its own (`/drizzle`, `/upstash`) so that
// an app loads only the clients and implementations it uses.
//
// drizzle-orm itself stays in the root, and stays a required peer: schemas are Drizzle tables, and
// `defineSchema` (getTableConfig, is), `Q` and the where clauses (`and`, `sql`) and query
// fingerprints (PgDialect) use it at run time. What the root no longer carries is the L3 built on it.
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { expect, it } from 'vitest';

/**
 * The modules with bytes in the bundle of `entry` (a path from here, or `{ contents }`: an entry's
 * source), as paths relative to the repo.
 */
async function bundledModules(entry: string | { contents: string }): Promise<string[]> {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const result = await build({
    ...(typeof entry === 'string'
      ? { entryPoints: [fileURLToPath(new URL(entry, import.meta.url))] }
      : { stdin: { contents: entry.contents, resolveDir: here, loader: 'ts' as const } }),
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    conditions: ['strata-source', 'workerd', 'worker', 'browser'],
    metafile: true,
    logLevel: 'silent',
  });
  return Object.values(result.metafile.outputs).flatMap((output) =>
    Object.entries(output.inputs)
      .filter(([, input]) => input.bytesInOutput > 0)
      .map(([path]) => path),
  );
}

it('the root of @strata/core bundles no driver: no Drizzle L3, no Upstash client, no MessagePack, no OpenTelemetry', async () => {
  const modules = await bundledModules('../src/index.ts');
  expect(modules.some((path) => path.includes('packages/core/src/engine/'))).toBe(true);
  const drivers = modules.filter((path) =>
    /packages\/core\/src\/(drizzle|upstash|otel)\/|node_modules\/(@upstash\/redis|@msgpack\/msgpack|@opentelemetry\/api)\//.test(
      path,
    ),
  );
  expect(drivers).toEqual([]);
}, 30_000);

it('an app that uses Strata without /admin or a relay bundles no admin operation; /admin brings them', async () => {
  const admin = /packages\/core\/src\/engine\/(reencrypt|apply-changes|admin-op)\.ts$/;
  const app = `import { defineSchema, Strata } from '../src/index.ts'; export const app = [defineSchema, Strata];`;
  expect((await bundledModules({ contents: app })).filter((path) => admin.test(path))).toEqual([]);
  expect((await bundledModules('../src/admin.ts')).filter((path) => admin.test(path)).sort()).toEqual([
    'packages/core/src/engine/admin-op.ts',
    'packages/core/src/engine/apply-changes.ts',
    'packages/core/src/engine/reencrypt.ts',
  ]);
}, 30_000);

it('the /drizzle entry carries the L3 the root leaves out', async () => {
  const modules = await bundledModules('../src/drizzle/index.ts');
  expect(modules.filter((path) => path.includes('packages/core/src/drizzle/')).length).toBeGreaterThan(10);
}, 30_000);
