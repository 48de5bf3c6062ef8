// The bindings of the test Worker (wrangler.toml + the devstack bindings the root vitest.config.ts
// adds), as `env` from 'cloudflare:workers' sees them in these tests.
import type { QueueWorkerEnv } from './fixtures/queue-worker.js';

declare global {
  namespace Cloudflare {
    interface Env extends QueueWorkerEnv {
      /** Connection string for `neon()`; the host is ignored by the local endpoint. */
      DATABASE_URL: string;
      /** `neonConfig.fetchEndpoint`: the devstack's Neon HTTP SQL URL (tests and local dev only). */
      NEON_FETCH_ENDPOINT: string;
    }
  }
}
