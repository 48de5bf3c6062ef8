import { createHash } from 'node:crypto';
import { Pool as NeonPool, neon, neonConfig } from '@neondatabase/serverless';
import { neonLocalConfig } from '@strata/devstack';
import { lapseWriterClaims, serviceUrls, testDevstack, uniqueName } from '@strata/devstack/testing';
import { sql } from 'drizzle-orm';
import { drizzle as drizzleNeonHttp } from 'drizzle-orm/neon-http';
import { drizzle as drizzleNeonWs } from 'drizzle-orm/neon-serverless';
import { drizzle } from 'drizzle-orm/node-postgres';
import { Redis as IORedis } from 'ioredis';
import pg from 'pg';
import ws from 'ws';
import { changeCapture, createDrizzleL3 } from '../../src/drizzle/index.js';
import { L2_SCRIPTS } from '../../src/l2/scripts.js';
import type { L2Tier } from '../../src/l2/types.js';
import type { L3Tier } from '../../src/l3/types.js';
import { createUpstashL2 } from '../../src/upstash/index.js';
import { playerTables } from './tables.js';

/**
 * Real tiers for engine tests: Upstash REST (the devstack over real Redis) for L2, node-postgres for
 * L3, each test file in its own Postgres schema and L2 key root. Counts the round trips each tier
 * sees (HTTP requests to the Upstash endpoint, SQL statements through Drizzle's logger).
 */
export type Driver = 'node-postgres' | 'neon-http' | 'neon-serverless';
export const DRIVERS: readonly Driver[] = ['node-postgres', 'neon-http', 'neon-serverless'];

export async function engineStack(label: string, driver: Driver = 'node-postgres') {
  const name = uniqueName(label);
  const { upstash } = testDevstack();
  if (!upstash) throw new Error('the devstack has no Upstash endpoint (Redis unavailable)');

  // @upstash/redis calls the global fetch: count the requests that reach the local endpoint.
  const l2Requests: string[] = [];
  const l2Commands: string[] = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (url.startsWith(upstash.url)) {
      l2Requests.push(new URL(url).pathname);
      l2Commands.push(commandNames(init?.body));
    }
    return realFetch(input, init);
  };
  const l2: L2Tier = createUpstashL2({ url: upstash.url, token: upstash.token });

  const statements: string[] = [];
  const pool = new pg.Pool({ connectionString: serviceUrls().databaseUrl, max: 5 });
  pool.on('error', () => {});
  const logger = { logQuery: (query: string) => void statements.push(query) };
  // `db` (node-postgres) is for the tests' own checks; the engine's L3 uses the driver under test.
  const db = drizzle(pool, { logger });
  const neonPool =
    driver === 'neon-serverless'
      ? new NeonPool({ connectionString: testDevstack().neon.connectionString })
      : undefined;
  if (driver !== 'node-postgres') {
    Object.assign(neonConfig, neonLocalConfig(testDevstack().neon));
    neonConfig.webSocketConstructor = ws;
  }
  const l3: L3Tier = createDrizzleL3(
    driver === 'neon-http'
      ? drizzleNeonHttp(neon(testDevstack().neon.connectionString), { logger })
      : neonPool
        ? drizzleNeonWs(neonPool, { logger })
        : db,
    // Strata's own tables in the test file's schema too: dropped with it, never shared.
    { migrationsSchema: name, capture: changeCapture },
  );
  const tables = playerTables(name);

  // A plain Redis connection to look at what L2 really holds (ciphertext, omitted fields).
  const redis = new IORedis(serviceUrls().redisUrl, { lazyConnect: true, protocol: 2 } as never);
  redis.on('error', () => {});
  // The engine's scripts, loaded once, so that counted round trips never include a first-use EVAL.
  for (const script of L2_SCRIPTS) await redis.script('LOAD', script.source);

  return {
    name,
    keyPrefix: name,
    l2,
    l3,
    db,
    pool,
    tables,
    redis,
    l2Requests,
    /** Per L2 request, what it ran: `mget`, `evalsha put`, a pipeline's commands joined by `, `. */
    l2Commands,
    statements,
    /** SQL statements that touched `table` since the last reset. */
    statementsOn(table: string) {
      return statements.filter((s) => s.includes(`"${table}"`));
    },
    reset() {
      l2Requests.length = 0;
      l2Commands.length = 0;
      statements.length = 0;
    },
    /**
     * Lapses the claims of the apps written so far on the file's tables (`_strata_writers` in its
     * schema, and the claims their instances share in L2), as stopping them would 60 s later: a test
     * that runs another app (keyPrefix) on a table after the earlier tests' apps are done calls it
     * (docs/semantics.md, "One writer per table").
     */
    lapseClaims(): Promise<void> {
      return lapseWriterClaims(pool, name, { redis, keyPrefix: name });
    },
    /** Every L2 key of the file's apps, a bucketed app's (`{name…#b}…`) included. */
    async rawL2Keys(): Promise<string[]> {
      return [...(await redis.keys(`${name}*`)), ...(await redis.keys(`{${name}*`))];
    },
    async cleanup() {
      globalThis.fetch = realFetch;
      await db.execute(sql.raw(`drop schema if exists "${name}" cascade`));
      // Tests add suffixes to the prefix (`${name}x`, `${name}fill`…), and a bucketed app's keys
      // (`buckets` > 1) start with `{${name}…#b}`: every key under the name goes, bucketed or not.
      for (const pattern of [`${name}*`, `{${name}*`]) {
        const keys = await redis.keys(pattern);
        if (keys.length > 0) await redis.del(...keys);
      }
      redis.disconnect();
      await neonPool?.end();
      await pool.end();
    },
  };
}

export type EngineStack = Awaited<ReturnType<typeof engineStack>>;

/** The engine's scripts by SHA1, as EVALSHA names them. */
const SCRIPT_BY_SHA = new Map(
  L2_SCRIPTS.map((script) => [createHash('sha1').update(script.source).digest('hex'), script.name]),
);

/** The command names in an Upstash REST body (one command, or a pipeline's), scripts by name. */
function commandNames(body: unknown): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof body === 'string' ? body : '[]');
  } catch {
    return '?';
  }
  if (!Array.isArray(parsed)) return '?';
  const commands: unknown[][] = Array.isArray(parsed[0]) ? parsed : [parsed];
  return commands
    .map(([name, sha]) => {
      const command = String(name).toLowerCase();
      return command === 'evalsha'
        ? `evalsha ${SCRIPT_BY_SHA.get(String(sha)) ?? String(sha).slice(0, 8)}`
        : command;
    })
    .join(', ');
}
