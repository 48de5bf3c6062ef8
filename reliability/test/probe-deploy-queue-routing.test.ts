import { createStrata } from '@strata/adapter-workers';
import { handleWriteBatch, type QueueBatch } from '@strata/adapter-workers/cloudflare';
import { defineSchema, type Logger, Q, type Strata } from '@strata/core';
import { createScratchDatabase, type ScratchDatabase, withDatabase } from '@strata/devstack';
import { uniqueName } from '@strata/devstack/testing';
import { integer, pgSchema, pgTable, text } from 'drizzle-orm/pg-core';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { queuePlatform } from '../support/queue-platform.js';
import { workerProbe } from '../support/worker-probe.js';

// Helper "deploy": ONE Worker, ONE Queue, ONE queue() handler for four tenants, each with a keyPrefix
// of its own and a table named `items` (every Strata schema named `items` too): tenants `da` and `db`
// each on a database of their own (unqualified `items`: identical message tables), tenants `sa` and
// `sb` in Postgres schemas of their own (`<schema>.items`). The user expects every acknowledged write
// of every tenant in that tenant's table, never in another's, and a message that no tenant's Strata
// can take reported with a typed error, logged, and kept (retried) rather than applied elsewhere.

const SEED = Number(process.env.STRATA_DEPLOY_SEED ?? 51205);
const name = uniqueName('deploy_cfqr');
const TENANTS = ['da', 'db', 'sa', 'sb'] as const;
type Tenant = (typeof TENANTS)[number];
const keyPrefix = (t: Tenant) => `${name}_${t}`;
const inDatabase = (t: Tenant) => t.startsWith('d');
const columns = { id: text('id').primaryKey(), n: integer('n').notNull() };
const options = { writeMode: 'write-behind', l1: { ttl: '60s' }, l2: { ttl: '5m' } } as const;
const itemsOf = (t: Tenant) =>
  defineSchema({
    table: inDatabase(t) ? pgTable('items', columns) : pgSchema(keyPrefix(t)).table('items', columns),
    ...options,
  });
const schemas = { da: itemsOf('da'), db: itemsOf('db'), sa: itemsOf('sa'), sb: itemsOf('sb') };
const probe = workerProbe(name);
const { bindings, admin, raw } = probe;
const { producer, queued, deliver, drain } = queuePlatform();
const databases = new Map<Tenant, ScratchDatabase>();

/** Tenant `t`'s bindings (a new isolate's each call): its own DATABASE_URL where it has a database of its own. */
const envOf = (t: Tenant) => {
  const db = databases.get(t);
  const url = db && withDatabase(bindings.DATABASE_URL, db.name);
  return { ...bindings, ...(url && { DATABASE_URL: url }), WRITES: producer };
};
const strataOf = (env: object, t: Tenant): Strata =>
  probe.track(
    createStrata(env, {
      schemas: [schemas[t]],
      keyPrefix: keyPrefix(t),
      ...(!inDatabase(t) && { migrationsSchema: keyPrefix(t) }),
    }),
  );
/** Rows of tenant `t`'s table, read with pg. */
async function rowsOf(t: Tenant): Promise<{ id: string; n: number }[]> {
  const db = databases.get(t);
  const client = db ? new pg.Client({ connectionString: db.url }) : undefined;
  await client?.connect();
  try {
    const table = db ? 'items' : `"${keyPrefix(t)}".items`;
    const { rows } = await (client ?? admin).query<{ id: string; n: number }>(
      `select id, n from ${table} order by id`,
    );
    return rows;
  } finally {
    await client?.end();
  }
}
const recording = () => {
  const warnings: Record<string, unknown>[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    error() {},
    warn: (_m, fields) => warnings.push(fields ?? {}),
  };
  return { warnings, logger };
};

beforeAll(async () => {
  await raw.connect();
  for (const t of TENANTS) {
    if (inDatabase(t)) {
      const db = await createScratchDatabase(`cfqr_${t}`);
      databases.set(t, db);
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      await client.query('create table items (id text primary key, n integer not null)');
      await client.end();
    } else {
      await admin.query(`create schema "${keyPrefix(t)}"`);
      await admin.query(`create table "${keyPrefix(t)}".items (id text primary key, n integer not null)`);
    }
  }
}, 60_000);

afterAll(async () => {
  await probe.cleanUp(TENANTS.filter((t) => !inDatabase(t)).map(keyPrefix));
  for (const db of databases.values()) await db.drop();
}, 60_000);

/** A batch of the queued messages (all of them, taken off the queue), and what the handler did with each. */
function takeAll() {
  const settled = new Map<string, 'ack' | 'retry'>();
  const taken = queued.splice(0, queued.length);
  const batch: QueueBatch = {
    queue: 'writes',
    messages: taken.map((m) => ({
      ...m,
      ack: () => settled.set(m.id, 'ack'),
      retry: () => settled.set(m.id, 'retry'),
    })),
  };
  return { batch, settled, taken };
}

it("a consumer Strata never applies another tenant's write to its own table: retried, typed, logged", async () => {
  const writers = {
    da: strataOf(envOf('da'), 'da'),
    db: strataOf(envOf('db'), 'db'),
  };
  await writers.da.set(schemas.da, { id: 'only-a', n: 1 });
  await writers.db.set(schemas.db, { id: 'only-b', n: 2 });
  const consumerA = strataOf(envOf('da'), 'da'); // a queue() handler that serves tenant da alone
  const { batch, settled, taken } = takeAll();
  const { warnings, logger } = recording();
  const result = await handleWriteBatch(consumerA, batch, { logger });

  expect({ da: await rowsOf('da') }).toEqual({ da: [{ id: 'only-a', n: 1 }] });
  const fromB = taken.find((m) => (m.body as { id: string }).id === 'only-b')!;
  expect(settled.get(fromB.id)).toBe('retry');
  expect(
    result.unroutable?.map((u) => ({ id: u.id, code: u.error.code, keyPrefix: u.error.details?.keyPrefix })),
  ).toEqual([{ id: fromB.id, code: 'SCHEMA_NOT_FOUND', keyPrefix: keyPrefix('db') }]);
  expect(warnings).toMatchObject([{ code: 'SCHEMA_NOT_FOUND', schema: 'items', keyPrefix: keyPrefix('db') }]);
  queued.push(...taken.filter((m) => settled.get(m.id) !== 'ack')); // back on the queue, for the next test
  await drain([consumerA, strataOf(envOf('db'), 'db')]);
  expect({ da: await rowsOf('da'), db: await rowsOf('db') }).toEqual({
    da: [{ id: 'only-a', n: 1 }],
    db: [{ id: 'only-b', n: 2 }],
  });
}, 60_000);

type Step =
  | { kind: 'set' | 'delete'; tenant: Tenant; key: number }
  | { kind: 'deliver'; size: number; crash: boolean };
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constantFrom('set' as const, 'set' as const, 'delete' as const),
      tenant: fc.constantFrom(...TENANTS),
      key: fc.integer({ min: 0, max: 2 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('deliver' as const),
      size: fc.integer({ min: 1, max: 8 }),
      crash: fc.boolean(),
    }),
  },
);

it('one queue() handler for four tenants (two databases, two Postgres schemas): each tenant ends with its own writes', async () => {
  const writers = Object.fromEntries(TENANTS.map((t) => [t, strataOf(envOf(t), t)])) as Record<
    Tenant,
    Strata
  >;
  const consumers = TENANTS.map((t) => strataOf(envOf(t), t)); // another isolate's
  const model = Object.fromEntries(TENANTS.map((t) => [t, new Map<string, number | null>()])) as Record<
    Tenant,
    Map<string, number | null>
  >;
  for (const t of ['da', 'db'] as const) model[t].set(`only-${t.at(1)}`, t === 'da' ? 1 : 2); // the first test's
  const steps = fc.sample(fc.array(stepArb, { minLength: 80, maxLength: 80 }), {
    seed: SEED,
    numRuns: 1,
  })[0]!;
  let n = 10;
  for (const step of steps) {
    if (step.kind === 'deliver') {
      await deliver(consumers, step.size, step.crash);
      continue;
    }
    const id = `k${step.key}`;
    if (step.kind === 'set') await writers[step.tenant].set(schemas[step.tenant], { id, n: ++n });
    else await writers[step.tenant].delete(schemas[step.tenant], id);
    model[step.tenant].set(id, step.kind === 'set' ? n : null);
  }
  await drain(consumers);
  await Promise.all(TENANTS.map((t) => writers[t].settled()));
  expect(queued).toEqual([]);
  for (const t of TENANTS) {
    const expected = [...model[t]]
      .flatMap(([id, v]) => (v === null ? [] : [{ id, n: v }]))
      .sort((x, y) => x.id.localeCompare(y.id));
    const rows = await rowsOf(t);
    expect({ tenant: t, rows }).toEqual({ tenant: t, rows: expected });
    const fresh = strataOf(envOf(t), t);
    const listed = await fresh.searchCached(schemas[t], Q().orderBy('id').build());
    expect({ tenant: t, listed }).toEqual({ tenant: t, listed: rows });
  }
}, 120_000);

it("a resolver routes by keyPrefix; an older producer's message (no keyPrefix) goes where only one tenant has its table", async () => {
  const writers = {
    sa: strataOf(envOf('sa'), 'sa'),
    da: strataOf(envOf('da'), 'da'),
  };
  await writers.sa.set(schemas.sa, { id: 'old-body', n: 100 });
  await writers.da.set(schemas.da, { id: 'old-body', n: 200 });
  // Bodies as a producer before keyPrefix existed sent them.
  for (const m of queued) delete (m.body as { keyPrefix?: string }).keyPrefix;
  const byPrefix = new Map(TENANTS.map((t) => [keyPrefix(t), t]));
  const { warnings, logger } = recording();
  const consumers = TENANTS.map((t) => strataOf(envOf(t), t));
  const { batch, settled, taken } = takeAll();
  const result = await handleWriteBatch(consumers, batch, { logger });
  // `items` is tenant da's table and tenant db's: the old body cannot say whose.
  const [toSa, toItems] = taken;
  expect({ sa: settled.get(toSa!.id), items: settled.get(toItems!.id) }).toEqual({
    sa: 'ack',
    items: 'retry',
  });
  expect(result.unroutable?.map((u) => u.error.code)).toEqual(['SCHEMA_NOT_FOUND']);
  expect(warnings).toHaveLength(1);
  expect((await rowsOf('sa')).find((r) => r.id === 'old-body')).toEqual({ id: 'old-body', n: 100 });
  for (const t of ['da', 'db'] as const)
    expect((await rowsOf(t)).find((r) => r.id === 'old-body')).toBeUndefined();

  // A resolver serving tenant sb alone: tenant sa's new write is not its own.
  await writers.sa.set(schemas.sa, { id: 'resolved', n: 300 });
  const only = strataOf(envOf('sb'), 'sb');
  const again = takeAll();
  const resolved = await handleWriteBatch(
    ({ keyPrefix: kp }) => (byPrefix.get(kp ?? '') === 'sb' ? only : undefined),
    again.batch,
    { logger },
  );
  expect(resolved.unroutable?.map((u) => u.error.details)).toEqual([
    { schema: `${keyPrefix('sa')}.items`, keyPrefix: keyPrefix('sa') },
  ]);
  // And one that resolves every tenant it knows applies it.
  queued.push(...again.taken);
  const third = takeAll();
  await handleWriteBatch(
    ({ keyPrefix: kp }) => consumers[TENANTS.indexOf(byPrefix.get(kp ?? '')!)],
    third.batch,
    { logger },
  );
  expect([...third.settled.values()]).toEqual(['ack']);
  expect((await rowsOf('sa')).find((r) => r.id === 'resolved')).toEqual({ id: 'resolved', n: 300 });
}, 60_000);

it('createStrata keeps an instance per keyPrefix for one env object (a resolver builds each tenant its own)', () => {
  const env = envOf('sa');
  const [a, b] = [keyPrefix('sa'), keyPrefix('sb')].map((kp) =>
    probe.track(createStrata(env, { schemas: [schemas.sa], keyPrefix: kp, migrationsSchema: kp })),
  );
  expect(a).not.toBe(b);
  expect([
    a!.flushes({ schema: `${keyPrefix('sa')}.items`, keyPrefix: keyPrefix('sb') }),
    b!.flushes({ schema: `${keyPrefix('sa')}.items`, keyPrefix: keyPrefix('sb') }),
  ]).toEqual([false, true]);
});
