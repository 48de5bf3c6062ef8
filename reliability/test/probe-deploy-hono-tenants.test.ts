import { strata as strataMiddleware } from '@strata/adapter-workers/hono';
import { defineSchema } from '@strata/core';
import { uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import fc from 'fast-check';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workerProbe } from '../support/worker-probe.js';

// Helper "deploy": ONE Worker (one isolate, one env object) serving two tenants through the Hono
// middleware (`c.var.strata`), each tenant's table `players` in its own Postgres schema, so both
// Strata schemas are named `players` (docs/semantics.md, Identities: "two apps or tenants on one
// Redis never read or write each other's rows, even with the same Strata schema name and the same
// keyPrefix"). Requests of both tenants run concurrently (fast-check, fixed seed); afterwards each
// tenant's Postgres table holds exactly its acknowledged writes, and every tier of that tenant (the
// isolate's L1, a fresh isolate's L2-or-L3 read, the by-name API) answers what Postgres holds.
//
// Found: createStrata (adapter-workers) kept one Strata per env and schema NAMES, so the second
// tenant's middleware got the first tenant's Strata: its writes failed with SCHEMA_NOT_FOUND (500)
// and its by-name reads (`find('players', id)`) answered the other tenant's rows.

const name = uniqueName('deploy_hono');
const TENANTS = ['a', 'b'] as const;
type Tenant = (typeof TENANTS)[number];
const pgName = (tenant: Tenant) => `${name}_${tenant}`;

function tenantSchema(tenant: Tenant) {
  const table = pgSchema(pgName(tenant)).table('players', {
    id: text('id').primaryKey(),
    owner: text('owner').notNull(),
    n: integer('n').notNull(),
  });
  return defineSchema({ table, l1: { ttl: '60s' }, l2: { ttl: '5m' } });
}
const schemas: Record<Tenant, ReturnType<typeof tenantSchema>> = {
  a: tenantSchema('a'),
  b: tenantSchema('b'),
};

const probe = workerProbe(name);
/** The Worker's bindings: one object, as one isolate sees it on every request. */
const env = probe.bindings;
const { admin, raw } = probe;

/** The app as a multi-tenant Worker is written: the tenant is the first path segment. */
function tenantsApp(bindings: typeof env) {
  const app = new Hono();
  // The error's code in the answer, so that a failure says which.
  app.onError((err, c) => c.text((err as { code?: string }).code ?? String(err), 500));
  for (const tenant of TENANTS) {
    const players = schemas[tenant];
    // The same keyPrefix on purpose: the identity alone must keep the tenants apart.
    app.use(
      `/${tenant}/*`,
      strataMiddleware({
        schemas: [players],
        env: bindings,
        keyPrefix: name,
        migrationsSchema: pgName(tenant),
      }),
    );
    app.put(`/${tenant}/players/:id`, async (c) => {
      probe.track(c.var.strata);
      const n = Number(c.req.query('n'));
      return c.json(await c.var.strata.set(players, { id: c.req.param('id'), owner: tenant, n }));
    });
    app.delete(`/${tenant}/players/:id`, async (c) => {
      probe.track(c.var.strata);
      await c.var.strata.delete(players, c.req.param('id'));
      return c.body(null, 204);
    });
    app.get(`/${tenant}/players/:id`, async (c) => {
      probe.track(c.var.strata);
      return c.json(await c.var.strata.find(players, c.req.param('id')));
    });
    // The Go-style API: the schema by its registered name.
    app.get(`/${tenant}/by-name/:id`, async (c) => {
      probe.track(c.var.strata);
      return c.json(await c.var.strata.find('players', c.req.param('id')));
    });
  }
  return app;
}

type Op = { tenant: Tenant; id: string; kind: 'put' | 'delete' | 'get' | 'by-name'; n: number };
const opArb: fc.Arbitrary<Op> = fc.record({
  tenant: fc.constantFrom(...TENANTS),
  id: fc.constantFrom('p1', 'p2', 'p3', 'p4'),
  kind: fc.constantFrom('put', 'put', 'delete', 'get', 'by-name'),
  n: fc.integer({ min: 0, max: 1_000 }),
});

async function call(app: Hono, op: Op): Promise<Response> {
  const path = op.kind === 'by-name' ? 'by-name' : 'players';
  const method = op.kind === 'put' ? 'PUT' : op.kind === 'delete' ? 'DELETE' : 'GET';
  return app.fetch(new Request(`http://worker.local/${op.tenant}/${path}/${op.id}?n=${op.n}`, { method }));
}

beforeAll(async () => {
  await raw.connect();
  for (const tenant of TENANTS) {
    await admin.query(`create schema "${pgName(tenant)}"`);
    await admin.query(
      `create table "${pgName(tenant)}".players (id text primary key, owner text not null, n integer not null)`,
    );
  }
});

afterAll(() => probe.cleanUp(TENANTS.map(pgName)));

describe('one Worker, two tenants, one schema name, Hono middleware under concurrent requests', () => {
  it('each tenant reads and writes only its own table; every tier agrees with Postgres', async () => {
    const app = tenantsApp(env);
    /** The last acknowledged write per tenant and id (null: deleted). */
    const model: Record<Tenant, Map<string, number | null>> = { a: new Map(), b: new Map() };
    const failures: string[] = [];
    const waves = fc.sample(fc.array(opArb, { minLength: 4, maxLength: 10 }), {
      seed: 20261205,
      numRuns: 12,
    });
    for (const wave of waves) {
      // One request per tenant and id in a wave, all at once: the model knows what each write left.
      const distinct = [...new Map(wave.map((op) => [`${op.tenant}/${op.id}`, op])).values()];
      const answers = await Promise.all(distinct.map((op) => call(app, op)));
      for (const [i, op] of distinct.entries()) {
        const res = answers[i]!;
        if (res.status >= 300) {
          failures.push(`${op.kind} /${op.tenant}/${op.id}: ${res.status} ${await res.text()}`);
          continue;
        }
        const body = res.status === 204 ? null : await res.json();
        const known = model[op.tenant].get(op.id);
        if (op.kind === 'put') model[op.tenant].set(op.id, op.n);
        else if (op.kind === 'delete') model[op.tenant].set(op.id, null);
        else {
          const expected = known == null ? null : { id: op.id, owner: op.tenant, n: known };
          if (JSON.stringify(body) !== JSON.stringify(expected)) {
            failures.push(
              `${op.kind} /${op.tenant}/${op.id}: ${JSON.stringify(body)} != ${JSON.stringify(expected)}`,
            );
          }
        }
      }
    }
    expect(failures.slice(0, 5)).toEqual([]);

    const db = drizzle({ client: admin });
    // A second isolate (another env object: another Strata, empty L1): its reads come from L2 or L3.
    const fresh = tenantsApp({ ...env });
    for (const tenant of TENANTS) {
      type Row = { id: string; owner: string; n: number };
      const rows = (await db.select().from(schemas[tenant].table)) as Row[];
      const expected = [...model[tenant]]
        .filter(([, n]) => n !== null)
        .map(([id, n]) => ({ id, owner: tenant, n }))
        .sort((x, y) => x.id.localeCompare(y.id));
      expect(rows.sort((x, y) => x.id.localeCompare(y.id))).toEqual(expected);
      for (const id of ['p1', 'p2', 'p3', 'p4']) {
        const inPostgres = rows.find((row) => row.id === id) ?? null;
        for (const [where, served] of [
          ['L1', app],
          ['fresh isolate', fresh],
        ] as const) {
          for (const kind of ['get', 'by-name'] as const) {
            const res = await call(served, { tenant, id, kind, n: 0 });
            const row = res.ok ? await res.json() : await res.text();
            expect({ where, kind, tenant, id, row }).toEqual({
              where,
              kind,
              tenant,
              id,
              row: inPostgres,
            });
          }
        }
      }
    }
  });
});
