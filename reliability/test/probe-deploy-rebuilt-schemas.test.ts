import { createStrata } from '@strata/adapter-workers';
import { defineSchema } from '@strata/core';
import { uniqueName } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { workerProbe } from '../support/worker-probe.js';

// Helper "deploy": a Worker that builds its schema objects per request (from the request's tenant
// or env, say) over module-level Drizzle tables. createStrata keeps one Strata per env and schema
// names + tables precisely so that such Workers do not pile up instances ("Names, not object
// identity: schemas rebuilt per request", packages/adapter-workers/test/create-strata.test.ts).
// Was a known gap (it.fails): core's Registry resolved an object only if it was the registered one,
// so the second request's `set(schema, row)` threw SCHEMA_NOT_FOUND. Now an object rebuilt from the
// same definition resolves to the registered schema (schema/same-definition.ts).

const name = uniqueName('deploy_rebuilt');
const table = pgSchema(name).table('players', { id: text('id').primaryKey(), n: integer('n').notNull() });
const probe = workerProbe(name);
const { bindings: env, admin, raw } = probe;

/** What each request does: its own schema object over the module's table. */
function requestStrata() {
  const players = defineSchema({ table });
  const strata = createStrata(env, { schemas: [players], keyPrefix: name, migrationsSchema: name });
  probe.track(strata);
  return { strata, players };
}

beforeAll(async () => {
  await raw.connect();
  await admin.query(`create schema "${name}"`);
  await admin.query(`create table "${name}".players (id text primary key, n integer not null)`);
});

afterAll(() => probe.cleanUp());

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
