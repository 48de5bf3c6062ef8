// The bindings of the test Worker (wrangler.toml + the devstack bindings the root vitest.config.ts
// adds), as `env` from 'cloudflare:workers' sees them in these tests.
import type { QueueWorkerEnv } from './fixtures/queue-worker.js';

declare global {
  namespace Cloudflare {
    // DATABASE_URL and NEON_FETCH_ENDPOINT are declared with the write-behind bindings (wb-app.ts).
    interface Env extends QueueWorkerEnv {}
  }
}
