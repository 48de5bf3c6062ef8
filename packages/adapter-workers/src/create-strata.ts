import { neon, neonConfig } from '@neondatabase/serverless';
import { type CompiledSchema, Strata, type StrataConfig, StrataError, strataDefaults } from '@strata/core';
import { invalidationChannel } from '@strata/core/driver';
import { type ChangeCapture, createLeanDrizzleL3, type DrizzleMigrate } from '@strata/core/drizzle';
import { createUpstashL2, createUpstashLogBus } from '@strata/core/upstash';
import { drizzle } from 'drizzle-orm/neon-http';
import type { QueueProducer } from './cloudflare/bindings.js';
import { createCloudflareQueue } from './cloudflare/queue.js';

/**
 * The bindings (Workers `env`) or environment variables (`process.env`) `createStrata` reads. No
 * index signature, so a Worker's `Env` interface fits as it is; the queue binding is looked up by name.
 */
export interface StrataBindings {
  UPSTASH_REDIS_REST_URL?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;
  /** Postgres connection string for `neon()` (Neon's serverless HTTP driver). */
  DATABASE_URL?: string;
  /**
   * Local dev and tests only: `neonConfig.fetchEndpoint`, the devstack's Neon HTTP SQL URL (the
   * devstack CLI prints it in its `.dev.vars` block). A deployed Worker leaves it unset.
   */
  NEON_FETCH_ENDPOINT?: string;
  /** 32 bytes, base64 or hex: enables `encrypted` fields. */
  STRATA_ENCRYPTION_KEY?: string;
  /**
   * The keyPrefix when the options name none (empty: the default `strata`): a test or staging
   * database gets its own prefix from its bindings, with the same code and middleware options.
   */
  STRATA_KEY_PREFIX?: string;
}

/**
 * `createStrata`'s options: the schemas, plus any StrataConfig option except what it wires (the
 * tiers, the bus, `background`). `writeBehind.queue` defaults to the Cloudflare Queue binding.
 */
export interface CreateStrataOptions extends Omit<StrataConfig, 'l2' | 'l3' | 'coherence' | 'background'> {
  schemas: readonly CompiledSchema[];
  /** How often the invalidation log (the Upstash log bus createStrata wires) is read. */
  coherence?: Pick<NonNullable<StrataConfig['coherence']>, 'pollInterval'>;
  /** The env key of the write-behind queue's producer binding. Default 'WRITES'; used when it exists. */
  queueBinding?: string;
  /**
   * Postgres schema of Strata's `_strata_migrations`, `_strata_versions` and `_strata_writers` (createDrizzleL3's
   * option). Default: unqualified, i.e. the search path's first schema (`public`).
   */
  migrationsSchema?: string;
  /**
   * Change capture (`changeCapture` from `@strata/core/drizzle`): the L3 can install and read the
   * Postgres change log, so `capture: { relay: changeRelay() }` follows writes made outside Strata.
   * Passed in so that Workers that do not use it do not bundle it.
   * @example createStrata(env, { schemas, changeCapture, capture: { relay: changeRelay({ interval: '2s' }) } })
   */
  changeCapture?: ChangeCapture;
  /**
   * migrate() (`drizzleMigrate` from `@strata/core/drizzle`): `strata.migrate()` then creates the
   * schemas' tables. Passed in, as `changeCapture` is, so that Workers whose tables come from
   * drizzle-kit do not bundle the DDL planner; without it `strata.migrate()` rejects with
   * INVALID_CONFIG and runs nothing.
   * @example createStrata(env, { schemas, drizzleMigrate })
   */
  drizzleMigrate?: DrizzleMigrate;
}

// One Strata per isolate (module scope), per env object and schema list (names and tables). A WeakMap so that a
// test's or a runtime's discarded env does not keep its Strata alive.
const instances = new WeakMap<object, Map<string, Strata>>();

/**
 * The Strata of this isolate for `env` and these schemas: built on the first call (Upstash L2, Neon
 * HTTP L3 through Drizzle, the Upstash log bus, a Cloudflare Queue for write-behind when the binding
 * exists), then the same instance for every later call with the same env object, keyPrefix and
 * schemas (the same names over the same qualified tables), so L1 lives as long as the isolate. The
 * first call's other options win.
 *
 * Deferred work (L2 fills, bus publishes) runs in the background (`background: 'track'`): hand
 * `strata.settled()` to the request's `ctx.waitUntil` — the Hono middleware (`@strata/adapter-workers/hono`)
 * does. Missing Upstash or database settings throw INVALID_CONFIG naming them. `options.keyPrefix`
 * defaults to the STRATA_KEY_PREFIX binding, then to `strata`.
 *
 * Vercel (and other fetch-style functions): pass `process.env`. Cloudflare Queues do not exist
 * there, so for write-behind pass the durable Redis Stream queue from `@strata/adapter-node`
 * (TCP Redis through ioredis; Node runtime, not Edge) as `options.writeBehind.queue`, and drain it from a
 * long-lived consumer or a cron route with `strata.flushDirty()`.
 *
 * @example
 * // Worker, module scope: const schemas = [players];
 * export default {
 *   async fetch(req: Request, env: Env, ctx: ExecutionContext) {
 *     const strata = createStrata(env, { schemas });
 *     const player = await strata.get(players, 'p1');
 *     ctx.waitUntil(strata.settled());
 *     return Response.json(player);
 *   },
 * };
 * @example
 * // Vercel function: write-behind through a Redis Stream
 * import { createRedisStreamQueue } from '@strata/adapter-node/redis-tcp';
 * const queue = createRedisStreamQueue({ url: process.env.REDIS_URL!, keyPrefix: 'shop' }); // needs AOF on
 * const strata = createStrata(process.env, { schemas, keyPrefix: 'shop', writeBehind: { queue } });
 */
export function createStrata(env: StrataBindings, options: CreateStrataOptions): Strata {
  let byKey = instances.get(env);
  if (!byKey) {
    byKey = new Map();
    instances.set(env, byKey);
  }
  // Names and qualified tables, not object identity: schemas rebuilt per request must not pile up
  // instances, and two tenants' `players` (tenant_a.players, tenant_b.players) are two apps, not one.
  // The keyPrefix too: it is the app whose queued writes the instance flushes (handleWriteBatch).
  const tables = options.schemas.map((schema) => `${schema.name}=${schema.identity}`);
  const keyPrefix = options.keyPrefix ?? (env.STRATA_KEY_PREFIX || undefined);
  const key = [keyPrefix ?? '', ...tables].join('\u0000');
  let strata = byKey.get(key);
  if (!strata) {
    strata = build(env, keyPrefix === undefined ? options : { ...options, keyPrefix });
    byKey.set(key, strata);
  }
  return strata;
}

function build(env: StrataBindings, options: CreateStrataOptions): Strata {
  const {
    queueBinding = 'WRITES',
    schemas,
    migrationsSchema,
    changeCapture,
    drizzleMigrate,
    ...config
  } = options;
  const upstash = {
    url: required(env, 'UPSTASH_REDIS_REST_URL'),
    token: required(env, 'UPSTASH_REDIS_REST_TOKEN'),
  };
  const databaseUrl = connectionString(required(env, 'DATABASE_URL'));
  // A global of the driver: only local dev and tests set it; a deployed Worker reaches Neon itself.
  if (env.NEON_FETCH_ENDPOINT) neonConfig.fetchEndpoint = env.NEON_FETCH_ENDPOINT;
  else requireLocalEndpoint(databaseUrl);
  const producer = queueProducer(env, queueBinding);
  const queue =
    config.writeBehind?.queue ?? (producer && createCloudflareQueue(producer, { name: queueBinding }));
  const keyPrefix = config.keyPrefix ?? strataDefaults.keyPrefix;
  const encryptionKey = config.encryptionKey ?? env.STRATA_ENCRYPTION_KEY;
  // Here the key is a binding: say so (core's refusal names only the option).
  const encrypted = encryptionKey === undefined && schemas.find((schema) => schema.encryptedKeys.length > 0);
  if (encrypted)
    throw new StrataError(
      'INVALID_CONFIG',
      `schema ${encrypted.name} has encrypted fields: set the STRATA_ENCRYPTION_KEY binding (or the encryptionKey option)`,
      { details: { schema: encrypted.name, field: 'encryptionKey' } },
    );
  return new Strata({
    ...config,
    l2: createUpstashL2(upstash),
    l3: createLeanDrizzleL3(drizzle(neon(databaseUrl)), {
      ...(migrationsSchema !== undefined && { migrationsSchema }),
      ...(changeCapture !== undefined && { capture: changeCapture }),
      ...(drizzleMigrate !== undefined && { migrate: drizzleMigrate }),
    }),
    // Isolates cannot hold a subscription: the log bus is read before a read, at most this often.
    // Its stream lives under the key prefix, so apps (and tests) sharing a Redis stay apart.
    coherence: {
      ...config.coherence,
      bus: createUpstashLogBus({ ...upstash, stream: `${invalidationChannel(keyPrefix)}:log` }),
    },
    schemas,
    ...(encryptionKey !== undefined && { encryptionKey }),
    writeBehind: { ...config.writeBehind, queue },
    // The instance outlives each request, and so would their waitUntil: the caller waits per request.
    background: 'track',
  });
}

function required(
  env: StrataBindings,
  name: 'UPSTASH_REDIS_REST_URL' | 'UPSTASH_REDIS_REST_TOKEN' | 'DATABASE_URL',
) {
  const value = env[name];
  if (!value) {
    throw new StrataError('INVALID_CONFIG', `createStrata: the binding ${name} is missing or empty`, {
      details: { binding: name },
    });
  }
  return value;
}

/**
 * DATABASE_URL must be a postgres:// (or postgresql://) connection string: neon() takes anything
 * and the first query fails far from the cause (a mysql:// URL, a bare host, a pasted console
 * snippet). The message never quotes the value, which holds the password.
 */
function connectionString(value: string): string {
  let protocol = '';
  try {
    protocol = new URL(value).protocol;
  } catch {
    // protocol stays '': refused below
  }
  if (protocol !== 'postgres:' && protocol !== 'postgresql:') {
    throw new StrataError(
      'INVALID_CONFIG',
      `createStrata: the binding DATABASE_URL is not a Postgres connection string (postgres://user:password@host/db)${protocol ? `: its scheme is ${protocol}` : ''}`,
      { details: { binding: 'DATABASE_URL' } },
    );
  }
  return value;
}

/**
 * A DATABASE_URL on a loopback address is the devstack's, and its HTTP endpoint is not where neon()
 * would look by default (`https://api.0.0.1/sql` for 127.0.0.1): say what is missing instead of
 * letting every query fail with "Invalid URL". A fetchEndpoint the app set itself (a string) is kept.
 */
function requireLocalEndpoint(databaseUrl: string): void {
  let host: string;
  try {
    host = new URL(databaseUrl).hostname;
  } catch {
    return; // connectionString refused it already
  }
  const loopback = /^127\.\d+\.\d+\.\d+$/.test(host) || host === '[::1]' || host === 'localhost';
  if (loopback && typeof neonConfig.fetchEndpoint === 'function') {
    throw new StrataError(
      'INVALID_CONFIG',
      `createStrata: DATABASE_URL points at ${host} (local) but NEON_FETCH_ENDPOINT is not set, so neon() would query a cloud URL: set it to the devstack's Neon HTTP URL (see its .dev.vars)`,
      { details: { binding: 'NEON_FETCH_ENDPOINT' } },
    );
  }
}

/** The producer binding named `name`, if env has one (in `process.env` it never does). */
function queueProducer(env: StrataBindings, name: string): QueueProducer | undefined {
  const binding: unknown = (env as Record<string, unknown>)[name];
  const sendBatch = (binding as { sendBatch?: unknown } | null | undefined)?.sendBatch;
  return typeof sendBatch === 'function' ? (binding as QueueProducer) : undefined;
}
