// The demo Worker's bindings as these tests see `env` from 'cloudflare:workers': the root
// wrangler.toml, plus what the root vitest.config.ts adds (the devstack URLs, a throwaway
// STRATA_ENCRYPTION_KEY and this run's STRATA_KEY_PREFIX).
import type { Env as DemoEnv } from '../src/env.js';

declare global {
  namespace Cloudflare {
    interface Env extends DemoEnv {
      UPSTASH_REDIS_REST_URL: string;
      UPSTASH_REDIS_REST_TOKEN: string;
      DATABASE_URL: string;
      NEON_FETCH_ENDPOINT: string;
      STRATA_ENCRYPTION_KEY: string;
      STRATA_KEY_PREFIX: string;
    }
    /** `exports` from 'cloudflare:workers': the demo Worker (root wrangler.toml `main`). */
    interface GlobalProps {
      mainModule: typeof import('../src/index.js');
    }
  }
}
