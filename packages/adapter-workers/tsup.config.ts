import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', hono: 'src/hono.ts', cloudflare: 'src/cloudflare/index.ts' },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
});
