import { defineConfig } from 'tsup';

export default defineConfig({
  // dist/cli.js is what bin/strata.mjs (the `strata` bin, committed so npm links it before any
  // build) runs.
  entry: { index: 'src/index.ts', 'redis-tcp': 'src/redis-tcp/index.ts', cli: 'src/cli/main.ts' },
  format: ['esm'],
  dts: { entry: { index: 'src/index.ts', 'redis-tcp': 'src/redis-tcp/index.ts' } },
  sourcemap: true,
  clean: true,
  target: 'es2022',
});
