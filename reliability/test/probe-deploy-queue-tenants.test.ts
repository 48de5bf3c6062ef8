import { createStrata } from '@strata/adapter-workers';
import { defineSchema, Q } from '@strata/core';
import { uniqueName } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { queuePlatform } from '../support/queue-platform.js';
import { workerProbe } from '../support/worker-probe.js';

// Helper "deploy": one Worker serving two tenants, each tenant's table `items` in its own Postgres
// schema (both Strata schemas named `items`, one keyPrefix), write-behind through ONE Cloudflare
// Queue and ONE consumer. The consumer cannot register two schemas named `items`
// (SCHEMA_DUPLICATE), so it names them apart; queue messages name the table by its identity
// (`tenant.items`), which is what it flushes by. Batches mix both tenants, are cut anywhere, and
// come back after consumer crashes (queue-platform.ts). Afterwards each tenant's Postgres table
// holds its own last acknowledged writes, and each tenant's reads (L1, a fresh isolate's L2,
// searchCached) answer its own table, never the other's.

const SEED = Number(process.env.STRATA_DEPLOY_SEED ?? 81205);
const name = uniqueName('deploy_cfqt');
const TENANTS = ['a', 'b'] as const;
type Tenant = (typeof TENANTS)[number];
const pgName = (tenant: Tenant) => `${name}_${tenant}`;
const tableOf = (tenant: Tenant) =>
  pgSchema(pgName(tenant)).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
const options = { writeMode: 'write-behind', l1: { ttl: '60s' }, l2: { ttl: '5m' } } as const;
const schemas = {
  a: defineSchema({ table: tableOf('a'), ...options }),
  b: defineSchema({ table: tableOf('b'), ...options }),
};
/** The consumer's: the same tables under names of their own. */
const consumerSchemas = TENANTS.map((t) =>
  defineSchema({ table: tableOf(t), name: `items_${t}`, ...options }),
);
const probe = workerProbe(name);
const { bindings, admin, raw } = probe;
const { producer, queued, deliver, drain } = queuePlatform();
const strataOf = (env: object, list: Parameters<typeof createStrata>[1]['schemas']) => {
  const strata = createStrata(env, { schemas: list, keyPrefix: name, migrationsSchema: name });
  probe.track(strata);
  return strata;
};

beforeAll(async () => {
  await raw.connect();
  await admin.query(`create schema "${name}"`); // Strata's own tables, shared by the tenants
  for (const t of TENANTS) {
    await admin.query(`create schema "${pgName(t)}"`);
    await admin.query(`create table "${pgName(t)}".items (id text primary key, n integer not null)`);
  }
});

afterAll(() => probe.cleanUp([name, ...TENANTS.map(pgName)]));

type Step =
  | { kind: 'set' | 'delete' | 'read'; tenant: Tenant; key: number }
  | { kind: 'deliver'; size: number; crash: boolean };
const key = fc.integer({ min: 0, max: 2 });
const tenant = fc.constantFrom(...TENANTS);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('set' as const), tenant, key }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), tenant, key }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('read' as const), tenant, key }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('deliver' as const),
      size: fc.integer({ min: 1, max: 6 }),
      crash: fc.boolean(),
    }),
  },
);

it('two tenants, one schema name, one queue and consumer: each tenant ends with its own writes in every tier', async () => {
  const env = { ...bindings, WRITES: producer }; // the Worker's: one env, a Strata per tenant
  const workers = { a: strataOf(env, [schemas.a]), b: strataOf(env, [schemas.b]) };
  expect(workers.a).not.toBe(workers.b);
  const consumer = strataOf({ ...bindings, WRITES: producer }, consumerSchemas);
  const steps = fc.sample(fc.array(stepArb, { minLength: 120, maxLength: 120 }), {
    seed: SEED,
    numRuns: 1,
  })[0]!;
  const model = { a: new Map<string, number | null>(), b: new Map<string, number | null>() };
  const wrongReads: string[] = [];
  let n = 0;
  for (const step of steps) {
    if (step.kind === 'deliver') {
      await deliver(consumer, step.size, step.crash);
      continue;
    }
    const id = `k${step.key}`;
    const strata = workers[step.tenant];
    const players = schemas[step.tenant];
    if (step.kind === 'set') {
      await strata.set(players, { id, n: ++n });
      model[step.tenant].set(id, n);
    } else if (step.kind === 'delete') {
      await strata.delete(players, id);
      model[step.tenant].set(id, null);
    } else {
      const read = (await strata.find(players, id))?.n ?? null;
      const own = model[step.tenant].get(id) ?? null;
      if (read !== own) wrongReads.push(`${step.tenant}/${id}: read ${read}, its last write ${own}`);
    }
  }
  await drain(consumer);
  await Promise.all(TENANTS.map((t) => workers[t].settled()));
  expect(queued).toEqual([]);
  expect(wrongReads).toEqual([]);

  const fresh = { ...bindings, WRITES: producer }; // another isolate
  for (const t of TENANTS) {
    const { rows } = await admin.query<{ id: string; n: number }>(
      `select id, n from "${pgName(t)}".items order by id`,
    );
    const expected = [...model[t]]
      .filter(([, v]) => v !== null)
      .map(([id, v]) => ({ id, n: v }))
      .sort((x, y) => x.id.localeCompare(y.id));
    expect({ tenant: t, rows }).toEqual({ tenant: t, rows: expected });
    for (const [where, strata] of [
      ['worker', workers[t]],
      ['fresh isolate', strataOf(fresh, [schemas[t]])],
    ] as const) {
      for (const k of [0, 1, 2]) {
        const got = (await strata.find(schemas[t], `k${k}`))?.n ?? null;
        const want = rows.find((r) => r.id === `k${k}`)?.n ?? null;
        expect({ tenant: t, where, id: `k${k}`, n: got }).toEqual({ tenant: t, where, id: `k${k}`, n: want });
      }
      const listed = await strata.searchCached(schemas[t], Q().orderBy('id').build());
      expect({ tenant: t, where, listed }).toEqual({ tenant: t, where, listed: rows });
    }
  }
});
