// What the docs' code samples take from the reader's own code without defining it: each sample is a
// module of its own, so a sample that defines or imports one of these names shadows it here.
// Library names (Strata, defineSchema, createStrata, …) are not here: a sample imports what it uses.

declare const players: typeof import('./schema.js').players;
declare const playerSchema: typeof import('./schema.js').playerSchema;
declare const scoreSchema: typeof import('./schema.js').scoreSchema;
declare const users: typeof import('./schema.js').users;
declare const schemas: import('@strata/core').CompiledSchema[];

declare const strata: import('@strata/core').Strata;
declare const db: import('@strata/core/drizzle').Database;
declare const l2: import('@strata/core').L2Tier;
declare const l3: import('@strata/core').L3Tier;
declare const bus: import('@strata/core').InvalidationBus;
declare const queue: import('@strata/core').WriteQueue;
declare const log: import('@strata/core').Logger;
declare const changes: Parameters<typeof import('@strata/core/admin').applyChanges>[1];

declare const databaseUrl: string;
declare const password: string;

/**
 * A Worker's bindings, as `wrangler types` writes them for the demo's wrangler.toml: on
 * `Cloudflare.Env`, which `env` of 'cloudflare:workers' (a workerd test's) is typed with, and the
 * global `Env` extending it, which a Worker's handlers take.
 */
declare namespace Cloudflare {
  interface Env {
    UPSTASH_REDIS_REST_URL: string;
    UPSTASH_REDIS_REST_TOKEN: string;
    DATABASE_URL: string;
    NEON_FETCH_ENDPOINT?: string;
    STRATA_ENCRYPTION_KEY: string;
    STRATA_KEY_PREFIX?: string;
    WRITES: Queue;
    WRITES_DLQ: Queue;
  }
  /** What `wrangler types` declares for a test's `exports` of 'cloudflare:workers': the Worker's main module. */
  interface GlobalProps {
    mainModule: { default: ExportedHandler<Env> };
  }
}
interface Env extends Cloudflare.Env {}
declare const env: Env;

// docs/api.md's OpenTelemetry SDK setup: packages Strata does not depend on.
declare module '@opentelemetry/exporter-prometheus';
declare module '@opentelemetry/exporter-trace-otlp-http';
declare module '@opentelemetry/sdk-node';
