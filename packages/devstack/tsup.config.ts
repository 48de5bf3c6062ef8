import { defineConfig } from 'tsup';

export default defineConfig({
  entry: [
    'src/index.ts',
    'src/cli.ts',
    'src/testing/index.ts',
    'src/redis-cluster/index.ts',
    'src/postgres-replica/index.ts',
    'src/redis-replica/index.ts',
    'src/seeded-random.ts',
  ],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  external: ['vitest'],
});
