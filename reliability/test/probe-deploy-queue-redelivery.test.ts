import { createStrata } from '@strata/adapter-workers';
import { defineSchema, Q } from '@strata/core';
import { uniqueName } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { queuePlatform } from '../support/queue-platform.js';
import { workerProbe } from '../support/worker-probe.js';

// Helper "deploy": write-behind through a Cloudflare Queue as the platform delivers it, at least
// once and out of order: the Worker (createStrata with a WRITES producer binding) queues writes; a
// consumer isolate (another env object) takes them in batches with handleWriteBatch. A seeded
// schedule cuts batches anywhere, makes the consumer crash after the flush but before any ack (the
// whole batch comes back, attempts + 1, later, behind newer batches), and redelivers retried
// messages late. Afterwards Postgres holds each key's last acknowledged write, and the Worker's
// reads (L1), the consumer's, a fresh isolate's (L2) and searchCached all answer Postgres.
// The producer binding and the batches are plain objects (the platform's side); L2 (Upstash REST)
// and L3 (Neon HTTP) are the devstack's, over the real Redis and Postgres.

/** STRATA_DEPLOY_SEED replays another run. */
const SEED = Number(process.env.STRATA_DEPLOY_SEED ?? 71205);
const name = uniqueName('deploy_cfq');
const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
const items = defineSchema({ table, writeMode: 'write-behind', l1: { ttl: '60s' }, l2: { ttl: '5m' } });
const probe = workerProbe(name);
const { bindings, admin, raw } = probe;
const { producer, queued, deliver, drain } = queuePlatform();
const strataOf = (env: object) => {
  const strata = createStrata(env, { schemas: [items], keyPrefix: name, migrationsSchema: name });
  probe.track(strata);
  return strata;
};

beforeAll(async () => {
  await raw.connect();
  await admin.query(`create schema "${name}"`);
  await admin.query(`create table "${name}".items (id text primary key, n integer not null)`);
});

afterAll(() => probe.cleanUp([name]));

type Step =
  | { kind: 'set' | 'delete'; key: number }
  | { kind: 'deliver'; size: number; crash: boolean }
  | { kind: 'read'; key: number };
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 3 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 3 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('read' as const), key: fc.integer({ min: 0, max: 3 }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('deliver' as const),
      size: fc.integer({ min: 1, max: 6 }),
      crash: fc.boolean(),
    }),
  },
);

it('batches cut anywhere, consumer crashes after the flush, late redelivery: every tier ends equal to Postgres', async () => {
  const worker = strataOf({ ...bindings, WRITES: producer });
  const consumer = strataOf({ ...bindings, WRITES: producer });
  const steps = fc.sample(fc.array(stepArb, { minLength: 120, maxLength: 120 }), {
    seed: SEED,
    numRuns: 1,
  })[0]!;
  const model = new Map<string, number | null>();
  const ownReads: string[] = [];
  let n = 0;
  for (const step of steps) {
    const id = 'key' in step ? `k${step.key}` : '';
    if (step.kind === 'set') {
      await worker.set(items, { id, n: ++n });
      model.set(id, n);
    } else if (step.kind === 'delete') {
      await worker.delete(items, id);
      model.set(id, null);
    } else if (step.kind === 'read') {
      const row = await worker.find(items, id);
      if ((row?.n ?? null) !== (model.get(id) ?? null)) ownReads.push(`${id}: ${row?.n} != ${model.get(id)}`);
    } else if (step.kind === 'deliver') {
      await deliver(consumer, step.size, step.crash);
    }
  }
  // The platform keeps delivering until every message is acked; no more crashes.
  await drain(consumer);
  await worker.settled();
  expect(queued).toEqual([]);
  expect(ownReads).toEqual([]);

  const { rows } = await admin.query<{ id: string; n: number }>(
    `select id, n from "${name}".items order by id`,
  );
  const expected = [...model].filter(([, v]) => v !== null).map(([id, v]) => ({ id, n: v }));
  expect(rows).toEqual(expected.sort((a, b) => a.id.localeCompare(b.id)));
  const fresh = strataOf({ ...bindings, WRITES: producer });
  for (const [where, strata] of [
    ['worker', worker],
    ['consumer', consumer],
    ['fresh isolate', fresh],
  ] as const) {
    for (const k of [0, 1, 2, 3]) {
      const row = await strata.find(items, `k${k}`);
      expect({ where, id: `k${k}`, n: row?.n ?? null }).toEqual({
        where,
        id: `k${k}`,
        n: rows.find((r) => r.id === `k${k}`)?.n ?? null,
      });
    }
    const listed = await strata.searchCached(items, Q().orderBy('id').build());
    expect({ where, listed }).toEqual({ where, listed: rows });
  }
});
