import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { configDefaults, defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript sources through the `strata-source` export
// condition, so tests and typechecks never need a build first. Not 'import': vitest hands these to
// Node as --conditions, and pg's require('pg-pool') would then load pg-pool's ESM entry and break.
const conditions = ['strata-source', 'node'];

// Inside workerd: the same source condition, then what a Worker bundle resolves (wrangler's set).
// The pool plugin adds 'module' and removes 'node'.
const workerConditions = ['strata-source', 'workerd', 'worker', 'browser'];

// Tests under workerd: the Worker in packages/adapter-workers/test/wrangler.toml is `main` (its
// queue() consumes the test queues), and every test file runs in the same workerd as that Worker.
const workersWrangler = './packages/adapter-workers/test/wrangler.toml';

// The demo Worker's own wrangler.toml (root): its `main` is the demo, its queue() the real consumer.
const demoWrangler = './wrangler.toml';

/** What only the demo's tests add: a throwaway encryption key (the key prefix is the isolation's). */
const demoTestBindings: Record<string, string> = {
  STRATA_ENCRYPTION_KEY: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64'),
};

/** What packages/devstack/test/workerd-isolation.ts provides: a database per workerd project, a key root. */
function isolationOf(inject: (key: string) => unknown, project: string) {
  const isolation = inject('workerdIsolation') as
    | { databases: Record<string, string>; wbConsumerPrefix: string; demoKeyPrefix: string }
    | undefined;
  if (!isolation) throw new Error(`${project} project: no workerdIsolation was provided (root globalSetup)`);
  return isolation;
}

/**
 * The devstack as the Worker of `project` sees it: plain string bindings, named as in a deployed
 * Worker. DATABASE_URL names the project's own database (packages/devstack/test/workerd-isolation.ts):
 * the Neon HTTP endpoint serves whichever database the connection string names.
 */
function devstackBindings(inject: (key: string) => unknown, project: string): Record<string, string> {
  const stack = inject('devstack') as
    | { upstash?: { url: string; token: string }; neon: { httpUrl: string; connectionString: string } }
    | undefined;
  if (!stack)
    throw new Error(`${project} project: no devstack was provided (the root globalSetup starts it)`);
  if (!stack.upstash) throw new Error(`${project} project: the devstack has no Upstash endpoint (no Redis)`);
  const database = isolationOf(inject, project).databases[project];
  const databaseUrl = new URL(stack.neon.connectionString);
  if (database) databaseUrl.pathname = `/${database}`;
  return {
    UPSTASH_REDIS_REST_URL: stack.upstash.url,
    UPSTASH_REDIS_REST_TOKEN: stack.upstash.token,
    DATABASE_URL: databaseUrl.toString(),
    // Only tests and local dev set this: `neonConfig.fetchEndpoint`, the local Neon HTTP SQL URL.
    NEON_FETCH_ENDPOINT: stack.neon.httpUrl,
  };
}

/**
 * Strata's default logger prints each failure once per instance (`strata warn: …`): the suite's
 * thousands of instances provoke failures on purpose, so those lines are left out of its output.
 * Tests that assert on logging pass a logger of their own or spy on `console`, which this skips.
 */
const quietDefaultLogger = (log: string): false | undefined =>
  /^strata (warn|error): /.test(log) ? false : undefined;

export default defineConfig({
  test: {
    onConsoleLog: quietDefaultLogger,
    // Started once per run, at the root: what a root global setup `provide`s reaches every project
    // (TestProject.getProvidedContext merges the root's), and the root's global setup runs whichever
    // projects are selected. Tests read it with `testDevstack()`; the Workers also get it as bindings.
    // The second gives the workerd projects a database each, on the devstack the first started.
    globalSetup: [
      './packages/devstack/test/global-setup.ts',
      './packages/devstack/test/workerd-isolation.ts',
    ],
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
            'packages/adapter-workers/test-node/**/*.test.ts',
            'apps/*/test-node/**/*.test.ts',
            'scripts/**/*.test.ts',
          ],
          // These run inside workerd (the 'workers' project below).
          exclude: [...configDefaults.exclude, 'packages/adapter-workers/test/**'],
          testTimeout: 20_000,
          hookTimeout: 30_000,
        },
      },
      {
        // Faults, crashes, races and hostile input (issue 8): real tiers, summed in a printed ledger.
        resolve: { conditions },
        ssr: { resolve: { conditions, externalConditions: conditions } },
        test: {
          name: 'reliability',
          include: ['reliability/test/**/*.test.ts'],
          globalSetup: ['./reliability/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 30_000,
        },
      },
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: workersWrangler },
            miniflare: {
              bindings: {
                ...devstackBindings(inject as (key: string) => unknown, 'workers'),
                // The write-behind consumer's key root, this run's (its keys are deleted at the end).
                WB_CONSUMER_PREFIX: isolationOf(inject as (key: string) => unknown, 'workers')
                  .wbConsumerPrefix,
              },
            },
          })),
        ],
        resolve: { conditions: workerConditions },
        ssr: { resolve: { conditions: workerConditions, externalConditions: workerConditions } },
        test: {
          name: 'workers',
          include: ['packages/adapter-workers/test/**/*.test.ts'],
          testTimeout: 20_000,
          hookTimeout: 30_000,
        },
      },
      {
        // The demo API in workerd, against the root wrangler.toml (its own Worker and queues).
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: demoWrangler },
            miniflare: {
              bindings: {
                ...devstackBindings(inject as (key: string) => unknown, 'workers-demo'),
                ...demoTestBindings,
                // This run's Redis key root for the demo, deleted at the end (workerd-isolation.ts).
                STRATA_KEY_PREFIX: isolationOf(inject as (key: string) => unknown, 'workers-demo')
                  .demoKeyPrefix,
              },
            },
          })),
        ],
        resolve: { conditions: workerConditions },
        ssr: { resolve: { conditions: workerConditions, externalConditions: workerConditions } },
        test: {
          name: 'workers-demo',
          include: ['apps/demo-worker/test/**/*.test.ts'],
          testTimeout: 20_000,
          hookTimeout: 30_000,
        },
      },
    ],
  },
});
