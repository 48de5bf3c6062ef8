import { defineConfig } from 'tsup';

export default defineConfig({
  // dist/cli.js is the `strata` bin; tsup keeps its #! line and marks it executable.
  entry: { index: 'src/index.ts', cli: 'src/cli/main.ts' },
  format: ['esm'],
  dts: { entry: { index: 'src/index.ts' } },
  sourcemap: true,
  clean: true,
  target: 'es2022',
});
