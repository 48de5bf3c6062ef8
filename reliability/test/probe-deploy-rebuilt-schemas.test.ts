import { createStrata } from '@strata/adapter-workers';
import { defineSchema, type Strata } from '@strata/core';
import { dropScratchSchema, serviceUrls, testDevstack, uniqueName } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';

// Helper "deploy": a Worker that builds its schema objects per request (from the request's tenant
// or env, say) over module-level Drizzle tables. createStrata keeps one Strata per env and schema
// names + tables precisely so that such Workers do not pile up instances ("Names, not object
// identity: schemas rebuilt per request", packages/adapter-workers/test/create-strata.test.ts).
// Was a known gap (it.fails): core's Registry resolved an object only if it was the registered one,
// so the second request's `set(schema, row)` threw SCHEMA_NOT_FOUND. Now an object rebuilt from the
// same definition resolves to the registered schema (schema/same-definition.ts).

const name = uniqueName('deploy_rebuilt');
const table = pgSchema(name).table('players', { id: text('id').primaryKey(), n: integer('n').notNull() });
const { upstash, neon } = testDevstack();
const env = {
  UPSTASH_REDIS_REST_URL: upstash!.url,
  UPSTASH_REDIS_REST_TOKEN: upstash!.token,
  DATABASE_URL: neon.connectionString,
  NEON_FETCH_ENDPOINT: neon.httpUrl,
};
const admin = new pg.Pool({ connectionString: serviceUrls().databaseUrl, max: 2 });
const raw = new Redis(serviceUrls().redisUrl, { lazyConnect: true });
const built = new Set<Strata>();

/** What each request does: its own schema object over the module's table. */
function requestStrata() {
  const players = defineSchema({ table });
  const strata = createStrata(env, { schemas: [players], keyPrefix: name, migrationsSchema: name });
  built.add(strata);
  return { strata, players };
}

beforeAll(async () => {
  await raw.connect();
  await admin.query(`create schema "${name}"`);
  await admin.query(`create table "${name}".players (id text primary key, n integer not null)`);
});

afterAll(async () => {
  await Promise.allSettled([...built].map((s) => s.close()));
  await dropScratchSchema(admin, name);
  await admin.end();
  const keys = await raw.keys(`${name}*`);
  if (keys.length > 0) await raw.del(...keys);
  raw.disconnect();
});

it('a second request with its own schema objects writes and reads through the isolate Strata', async () => {
  const first = requestStrata();
  await first.strata.set(first.players, { id: 'p1', n: 1 });
  const second = requestStrata();
  expect(second.strata).toBe(first.strata); // one instance per isolate, as meant
  await second.strata.set(second.players, { id: 'p1', n: 2 });
  expect(await second.strata.get(second.players, 'p1')).toEqual({ id: 'p1', n: 2 });
  const { rows } = await admin.query(`select id, n from "${name}".players`);
  expect(rows).toEqual([{ id: 'p1', n: 2 }]);
});
