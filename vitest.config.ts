import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript sources through the `strata-source` export
// condition, so tests and typechecks never need a build first. Not 'import': vitest hands these to
// Node as --conditions, and pg's require('pg-pool') would then load pg-pool's ESM entry and break.
const conditions = ['strata-source', 'node'];

export default defineConfig({
  test: {
    projects: [
      {
        resolve: { conditions },
        ssr: { resolve: { conditions, externalConditions: conditions } },
        test: {
          name: 'node',
          include: [
            'packages/*/test/**/*.test.ts',
            'packages/*/src/**/*.test.ts',
            'packages/*/testing/**/*.test.ts',
          ],
          globalSetup: ['./packages/devstack/test/global-setup.ts'],
          testTimeout: 20_000,
          hookTimeout: 30_000,
        },
      },
    ],
  },
});
