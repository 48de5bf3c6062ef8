import { readFile } from 'node:fs/promises';
import { defineConfig, type Options } from 'tsup';

/**
 * The Lua scripts' indentation left out of the build (every line's leading blanks in the files that
 * hold Lua): Lua does not read it (none of these scripts has a long string, `[[…]]`), and a Worker
 * ships the scripts' text. -133 bytes of gzip in bundle-budget.test.ts. The source keeps it; the
 * line count stays, so the sourcemaps' lines too.
 */
const LUA_FILES = /[\\/](?:l2[\\/](?:scripts|shape-scripts|relay-scripts|types)|upstash[\\/]log-script)\.ts$/;
const luaDedent: NonNullable<Options['esbuildPlugins']>[number] = {
  name: 'lua-dedent',
  setup(build) {
    build.onLoad({ filter: LUA_FILES }, async ({ path }) => ({
      contents: (await readFile(path, 'utf8')).replace(/\n[ \t]+/g, '\n'),
      loader: 'ts',
    }));
  },
};

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    driver: 'src/driver.ts',
    admin: 'src/admin.ts',
    upstash: 'src/upstash/index.ts',
    drizzle: 'src/drizzle/index.ts',
    msgpack: 'src/msgpack.ts',
    otel: 'src/otel/index.ts',
    'testing/index': 'testing/index.ts',
  },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  // Rollup's pass over esbuild's chunks: one import per external package and chunk, unused bindings
  // dropped (esbuild leaves one per source module, dead or not: 51 in a Worker's share, 15 after), and
  // the chunks' dead code removed. -392 bytes of gzip in bundle-budget.test.ts; same code otherwise.
  treeshake: true,
  target: 'es2022',
  esbuildPlugins: [luaDedent],
  external: ['vitest', 'drizzle-orm', '@upstash/redis', '@opentelemetry/api'],
});
