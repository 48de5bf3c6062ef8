import { createIoredisL2, createRedisStreamQueue } from '@strata/adapter-node/redis-tcp';
import { defineSchema, Strata, type StrataConfig } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Probes of Strata's guarantees in deployments the rest of the suite does not walk (helper
// "breakit"). A probe that found a defect is `it.fails`, with the failing assertion and the
// mechanism in its comment; the others pass and stay because no other test covers them.

const { redisUrl, databaseUrl } = serviceUrls();
const name = uniqueName('probe_breakit');
const admin = new pg.Pool({ connectionString: databaseUrl, max: 2 });
admin.on('error', () => {});
const raw = new Redis(redisUrl, { protocol: 2, lazyConnect: true } as never);
raw.on('error', () => {});
const pools: pg.Pool[] = [];
const opened: { close(): Promise<void> }[] = [];

/** A pool whose session resolves unqualified tables in `schema` (schema-per-tenant by search_path). */
function tenantDb(schema: string) {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4, options: `-c search_path=${schema}` });
  pool.on('error', () => {});
  pools.push(pool);
  return drizzle({ client: pool });
}

/** Every test's instances close (and their queues and L2 connections) before the file's cleanup. */
function open(config: StrataConfig): Strata {
  const strata = new Strata(config);
  opened.push(strata);
  return strata;
}

beforeAll(async () => {
  await raw.connect();
});

afterAll(async () => {
  await Promise.allSettled(opened.splice(0).map((s) => s.close()));
  await Promise.allSettled(pools.splice(0).map((p) => p.end()));
  const { rows } = await admin.query<{ nspname: string }>(
    'select nspname from pg_namespace where nspname like $1',
    [`${name}%`],
  );
  for (const { nspname } of rows) await admin.query(`drop schema if exists "${nspname}" cascade`);
  await admin.end();
  const keys = await raw.keys(`${name}*`);
  if (keys.length > 0) await raw.del(...keys);
  raw.disconnect();
});

describe('two tenants by search_path (unqualified tables) on one Redis and one keyPrefix', () => {
  // The same unqualified `items` table in two Postgres schemas, each app reaching its own through its
  // session's search_path, both on the same Redis under one keyPrefix (as two apps left at the
  // default 'strata' would be). docs/semantics.md ("Identities"): "Two apps or tenants on one Redis
  // therefore never read or write each other's rows, even with the same Strata schema name and the
  // same keyPrefix".
  const items = pgTable('items', { id: text('id').primaryKey(), n: integer('n').notNull(), owner: text('owner') });
  const schemas = {
    'write-through': defineSchema({ table: items, l1: false }),
    'write-behind': defineSchema({ table: items, writeMode: 'write-behind', l1: false }),
  };
  const schemaOf = (writeMode: 'write-through' | 'write-behind') => schemas[writeMode];
  const tenants = { a: `${name}_ta`, b: `${name}_tb` };
  const keyPrefix = `${name}sp`;

  const app = (tenant: 'a' | 'b', writeMode: 'write-through' | 'write-behind') =>
    open({
      l2: createIoredisL2(redisUrl),
      l3: createDrizzleL3(tenantDb(tenants[tenant])),
      keyPrefix,
      schemas: [schemaOf(writeMode)],
      ...(writeMode === 'write-behind' && {
        writeBehind: { queue: createRedisStreamQueue({ url: redisUrl, keyPrefix, allowVolatile: true }) },
      }),
    });

  beforeAll(async () => {
    for (const schema of Object.values(tenants)) {
      await admin.query(`create schema "${schema}"`);
      await new Strata({ l3: createDrizzleL3(tenantDb(schema)), schemas: [schemaOf('write-through')] }).migrate();
    }
  });

  // BUG. Fails at `expect(fromB).toBeNull()`: B reads A's row. The L2 key and the owner tag are
  // built from the schema's identity (engine/keys.ts KeySpace, schema-cache.ts ownerTag), which for
  // an unqualified table is the bare table name `items`, whatever schema the session's search_path
  // resolves it to; the keyPrefix claim (engine/l3-claim.ts, drizzle/database-identity.ts) names the
  // database (system identifier + database name), not current_schema(). So both tenants share
  // `{keyPrefix}:items:…:r:{id}` and each serves the other's rows.
  it.fails('a row tenant A wrote is not served to tenant B', async () => {
    const a = app('a', 'write-through');
    const b = app('b', 'write-through');
    await a.set(schemaOf('write-through'), { id: 'sp-1', n: 1, owner: 'a' });
    const fromB = await b.find(schemaOf('write-through'), 'sp-1');
    expect(fromB).toBeNull();
  });

  // BUG. Fails at `expect(inB).toEqual([])`: tenant B's flusher writes tenant A's write into B's
  // table. The stream and group are `{keyPrefix}:writes` / `{keyPrefix}:flushers`, and a queued write
  // names its table by the same unqualified identity `items` (queue/types.ts QueuedWrite.schema), so
  // B's flusher knows the schema and applies the write through its own search_path
  // (engine/flusher.ts): an acknowledged write of A lands in the wrong tenant, and A never gets it.
  it.fails("tenant B's flush never applies tenant A's write-behind write", async () => {
    const a = app('a', 'write-behind');
    const b = app('b', 'write-behind');
    await a.set(schemaOf('write-behind'), { id: 'sp-wb', n: 7, owner: 'a' });
    await b.flushDirty();
    await a.flushDirty();
    const inB = await admin.query(`select id from "${tenants.b}".items where id = 'sp-wb'`);
    const inA = await admin.query(`select n from "${tenants.a}".items where id = 'sp-wb'`);
    expect({ inA: inA.rows, inB: inB.rows }).toEqual({ inA: [{ n: 7 }], inB: [] });
  });
});
