import { createIoredisL2, createRedisStreamQueue } from '@strata/adapter-node/redis-tcp';
import { defineSchema, Strata, type StrataConfig } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { dropScratchSchema, lapseWriterClaims, serviceUrls, uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { getTableConfig, type PgTable } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type TierStack, tierStack } from './stack-tiers.js';

/**
 * One describe's own app on the real Redis and Postgres, with its hooks: a unique `name` (the key
 * prefix) and Postgres schema `pgName`, a pg pool (`admin`) and a Drizzle `db` over it, a raw Redis
 * connection. The tables given to `migrate` exist (their Postgres schemas created) before the
 * describe's tests; the instances `strata` opens are closed after each test; the Postgres schemas
 * and every key under `name` are gone after the describe. Call it in the describe's body. Each test
 * may be another app: the claims of the apps closed after a test are lapsed.
 */
export function scratchApp(label: string) {
  const { redisUrl, databaseUrl } = serviceUrls();
  const name = uniqueName(label);
  const pgName = `${name}_t`;
  const admin = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  admin.on('error', () => {});
  const db = drizzle({ client: admin });
  const raw = new Redis(redisUrl, { protocol: 2, lazyConnect: true } as never);
  raw.on('error', () => {});
  const tables: PgTable[] = [];
  const opened: Strata[] = [];

  const deleteKeys = async (pattern: string) => {
    const keys = await raw.keys(pattern);
    if (keys.length > 0) await raw.del(...keys);
  };
  const pgSchemas = () => [...new Set(tables.map((table) => getTableConfig(table).schema ?? 'public'))];

  beforeAll(async () => {
    await raw.connect();
    for (const schema of pgSchemas()) await admin.query(`create schema "${schema}"`);
    for (const table of tables) {
      const migrationsSchema = getTableConfig(table).schema;
      await new Strata({
        l3: createDrizzleL3(db, { migrationsSchema }),
        schemas: [defineSchema({ table })],
      }).migrate();
    }
  });
  afterEach(async () => {
    await Promise.allSettled(opened.splice(0).map((s) => s.close()));
    // The next test may be another app (keyPrefix) on the same tables: the closed apps' claims
    // lapse, as stopped apps' would 60 s later (docs/semantics.md, "One writer per table").
    await lapseWriterClaims(admin, pgName, { redis: raw, keyPrefix: name });
  });
  afterAll(async () => {
    for (const schema of pgSchemas()) await dropScratchSchema(admin, schema);
    await admin.end();
    await deleteKeys(`${name}*`); // every key prefix the tests made from `name` too
    raw.disconnect();
  });

  return {
    name,
    pgName,
    redisUrl,
    admin,
    db,
    raw,
    /** Redis restarted without its data, for this app: every key under the prefix `name` goes. */
    wipe: () => deleteKeys(`${name}:*`),
    /** Tables made before the describe's tests (in the Postgres schema each names). */
    migrate(...more: PgTable[]): void {
      tables.push(...more);
    },
    /**
     * An instance closed after the test: by default its own ioredis L2, L3 in `pgName`, key prefix
     * `name`, and write-behind on a Redis Stream under its key prefix (unless `writeBehind.queue`
     * says otherwise) that flushes only when told.
     */
    strata(config: StrataConfig = {}): Strata {
      const keyPrefix = config.keyPrefix ?? name;
      const strata = new Strata({
        l2: config.l2 ?? createIoredisL2(redisUrl),
        l3: createDrizzleL3(db, { migrationsSchema: pgName }),
        keyPrefix,
        ...config,
        writeBehind: {
          queue:
            config.writeBehind?.queue ??
            createRedisStreamQueue({ url: redisUrl, keyPrefix, allowVolatile: true }),
          threshold: 1_000_000,
          ...config.writeBehind,
        },
      });
      opened.push(strata);
      return strata;
    },
    /** `n` of the row `id` of `"pgName".items`, as Postgres holds it. */
    async n(id: string): Promise<number | undefined> {
      return (await admin.query<{ n: number }>(`select n from "${pgName}".items where id = $1`, [id])).rows[0]
        ?.n;
    },
  };
}

/**
 * {@link tierStack} for one describe, with its hooks: made before its tests, cleaned up after;
 * `open` opens an instance of it that is closed after the test. Call it in the describe's body.
 */
export function describedTierStack(label: string) {
  let made: TierStack | undefined;
  const opened: Strata[] = [];
  beforeAll(async () => {
    made = await tierStack(label);
  });
  afterEach(async () => {
    await Promise.allSettled(opened.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await made?.cleanup();
  });
  const fixture = {
    /** The stack, once the describe's `beforeAll` made it. */
    get stack(): TierStack {
      if (!made) throw new Error(`tier stack ${label}: used before its beforeAll ran`);
      return made;
    },
    open: (...args: Parameters<TierStack['strata']>): Strata => {
      const strata = fixture.stack.strata(...args);
      opened.push(strata);
      return strata;
    },
  };
  return fixture;
}
