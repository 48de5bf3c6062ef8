// The services a suite uses: one devstack (Upstash REST + Neon HTTP over the machine's real
// Redis and Postgres), the demo's player table under a unique Postgres schema, and counters of the
// round trips each tier sees. Everything made here is removed by `cleanup()`; the devstack started
// here is stopped; the machine's Redis and Postgres are never stopped.
import { neon, neonConfig } from '@neondatabase/serverless';
import { defineSchema, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { createUpstashL2 } from '@strata/core/upstash';
import { neonLocalConfig, serviceUrls, startDevstack, uniqueName } from '@strata/devstack';
import { Redis as UpstashRedis } from '@upstash/redis';
import { sql } from 'drizzle-orm';
import { drizzle as drizzleNeonHttp } from 'drizzle-orm/neon-http';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { boolean, integer, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';
import { Redis as IORedis } from 'ioredis';
import pg from 'pg';

/**
 * The demo worker's player row (apps/demo-worker/src/db/schema.ts), under a schema of this run
 * (`tableName` for a second table of it: two apps may not both write one table write-behind).
 */
export function playerTable(schemaName, tableName = 'players') {
  return pgSchema(schemaName).table(tableName, {
    id: text('id').primaryKey(),
    username: text('username').notNull().unique(),
    level: integer('level').notNull().default(1),
    email: text('email'),
    active: boolean('active').notNull().default(true),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }),
  });
}

/** A player row as the demo stores it; `i` makes id, username and email distinct. */
export function playerRow(prefix, i) {
  return {
    id: `${prefix}${i}`,
    username: `${prefix}user${i}`,
    level: (i % 90) + 1,
    email: `${prefix}user${i}@example.com`,
    active: true,
    createdAt: new Date(1_700_000_000_000 + i * 1000),
    updatedAt: null,
  };
}

/**
 * Opens the services. `name` (default: a unique one) names the run's Postgres schema and Redis keys:
 * a suite's child process gets it from run.mjs, which then knows what to remove if the child dies.
 */
export async function openStack({ name = uniqueName(process.env.BENCH_LABEL ?? 'bench') } = {}) {
  const devstack = await startDevstack({ embedded: process.env.BENCH_EMBEDDED ?? 'never' });
  if (!devstack.upstash) throw new Error('the devstack has no Upstash endpoint (Redis unavailable)');
  const urls = serviceUrls();

  // Round trips: HTTP requests reaching the two endpoints, SQL statements through Drizzle's logger.
  const counts = { upstash: 0, neon: 0, neonStatements: 0, sql: 0 };
  const realFetch = globalThis.fetch;
  const isGenerationRead = (body) => {
    try {
      const command = JSON.parse(typeof body === 'string' ? body : 'null');
      // The GENERATION script: KEYS = generation, boot marker, tick.
      return (
        Array.isArray(command) &&
        ['evalsha', 'eval'].includes(String(command[0]).toLowerCase()) &&
        /:gen$/.test(String(command[3])) &&
        /:boot$/.test(String(command[4]))
      );
    } catch {
      return false;
    }
  };
  const upstashUrl = devstack.upstash.url;
  const neonUrl = devstack.neon.httpUrl;
  globalThis.fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof Request ? input.url : String(input);
    if (url.startsWith(upstashUrl)) {
      // The schema generation's periodic re-read (at most every 5 s per instance, stated beside the
      // table) is not a cost of the call it happens to fall into.
      if (!isGenerationRead(init?.body)) counts.upstash += 1;
    } else if (url.startsWith(neonUrl)) {
      counts.neon += 1;
      // Statements inside the request: drizzle's logger does not see those of a neon-http batch.
      try {
        const body = JSON.parse(typeof init?.body === 'string' ? init.body : '{}');
        counts.neonStatements += Array.isArray(body.queries) ? body.queries.length : 1;
      } catch {
        counts.neonStatements += 1;
      }
    }
    return realFetch(input, init);
  };
  const logger = {
    logQuery: () => {
      counts.sql += 1;
    },
  };

  const pool = new pg.Pool({ connectionString: urls.databaseUrl, max: 10 });
  pool.on('error', () => {});
  const db = drizzlePg(pool, { logger });
  Object.assign(neonConfig, neonLocalConfig(devstack.neon));
  const neonDb = drizzleNeonHttp(neon(devstack.neon.connectionString), { logger });

  const upstash = { url: devstack.upstash.url, token: devstack.upstash.token };
  // The raw client as a user would make it: JSON (automatic deserialization), one fetch per command
  // (`retry: false` would still retry once), one request per call.
  const rawUpstash = new UpstashRedis({ ...upstash, retry: { retries: 0 }, enableAutoPipelining: false });
  const ioredis = new IORedis(urls.redisUrl, { protocol: 2, lazyConnect: true });
  ioredis.on('error', () => {});
  await ioredis.connect();

  const extraClients = [];

  /** What depends on the run's unique name: its player table, Strata instances, cold rows. */
  const scoped = (scopeName) => {
    const players = playerTable(scopeName);
    return {
      name: scopeName,
      players,
      // Strata's own tables in this run's schema too: the cleanup's DROP SCHEMA removes them.
      l3: (driver = 'node-postgres') =>
        createDrizzleL3(driver === 'neon-http' ? neonDb : db, { migrationsSchema: scopeName }),
      /**
       * A Strata over this run's tiers. `schema` options go to defineSchema, the rest to Strata.
       * `table`: another player table of this run's schema (created by the Strata's migrate), for
       * an app that writes write-behind beside another app: one app owns a table's versions.
       */
      strata({ schema = {}, driver = 'node-postgres', l2, prefix = 'main', table, ...config } = {}) {
        const s = defineSchema({ table: table ? playerTable(scopeName, table) : players, ...schema });
        const strata = new Strata({
          l2: l2 === undefined ? createUpstashL2(upstash) : l2 || undefined,
          l3: createDrizzleL3(driver === 'neon-http' ? neonDb : db, { migrationsSchema: scopeName }),
          keyPrefix: `${scopeName}-${prefix}`,
          l1: { maxEntries: 200_000 },
          schemas: [s],
          ...config,
        });
        extraClients.push(strata);
        return { strata, schema: s };
      },
      /** Rows straight into Postgres (no cache sees them): cold keys for miss measurements. */
      async insertCold(rows) {
        for (let i = 0; i < rows.length; i += 2_000)
          await db.insert(players).values(rows.slice(i, i + 2_000));
      },
    };
  };

  const stack = {
    devstack,
    urls,
    counts,
    db,
    neonDb,
    pool,
    upstash,
    rawUpstash,
    ioredis,
    ...scoped(name),
    /** Resets and returns a reader of the counters: `const done = stack.count(); …; done()`. */
    count() {
      const start = { ...counts };
      return () => ({
        upstash: counts.upstash - start.upstash,
        neon: counts.neon - start.neon,
        sql: counts.sql - start.sql,
        neonStatements: counts.neonStatements - start.neonStatements,
      });
    },
    l2: () => createUpstashL2(upstash),
    async cleanup() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      for (const s of extraClients) await s.close().catch(() => {});
      globalThis.fetch = realFetch;
      try {
        await removeNamed(db, ioredis, name);
      } finally {
        ioredis.disconnect();
        await pool.end();
        await devstack.stop();
      }
    },
  };
  // A script stopped by a signal (Ctrl-C, `timeout`) still removes what it made: helpers' A/B runs
  // cut short left their `t_bench_*` schemas behind. Its loop still runs meanwhile, and fails once
  // the schema is gone: those failures are ignored (the process is ending), and the sweep runs twice
  // in case the loop wrote Redis keys during the first.
  const onSignal = (signal) => {
    process.on('unhandledRejection', () => {});
    process.on('uncaughtException', () => {});
    void sweep([name])
      .then(() => sweep([name]))
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : signal === 'crash' ? 1 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // So does a script that fails (a top-level await that rejects lands here too): a crashed A/B
  // replay left its schema and 109 keys per build.
  process.once('uncaughtException', (err) => {
    console.error(err);
    onSignal('crash');
  });
  return stack;
}

/** Drops the Postgres schema `name` and deletes every Redis key containing `name`. */
async function removeNamed(db, ioredis, name) {
  await db.execute(sql.raw(`drop schema if exists "${name}" cascade`));
  let cursor = '0';
  do {
    const [next, keys] = await ioredis.scan(cursor, 'MATCH', `*${name}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await ioredis.del(...keys);
  } while (cursor !== '0');
}

/**
 * Removes what stacks opened under `names` left behind (their schemas and Redis keys), for a suite's
 * child process that died before its own cleanup. Touches the machine's Redis and Postgres only.
 * @example await sweep(['t_bench_x_1_abc_search_r1']);
 */
export async function sweep(names) {
  const urls = serviceUrls();
  const pool = new pg.Pool({ connectionString: urls.databaseUrl, max: 1 });
  pool.on('error', () => {});
  const ioredis = new IORedis(urls.redisUrl, { protocol: 2, lazyConnect: true });
  ioredis.on('error', () => {});
  try {
    await ioredis.connect();
    for (const name of names) await removeNamed(drizzlePg(pool), ioredis, name);
  } finally {
    ioredis.disconnect();
    await pool.end();
  }
}
