import { defineConfig } from 'tsup';

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
  target: 'es2022',
  external: ['vitest', 'drizzle-orm', '@upstash/redis', '@opentelemetry/api'],
});
