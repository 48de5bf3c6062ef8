import { createStrata } from '@strata/adapter-workers';
import { defineSchema, Q } from '@strata/core';
import { uniqueName } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { queuePlatform } from '../support/queue-platform.js';
import { workerProbe } from '../support/worker-probe.js';

// Helper "deploy": a rolling (gradual) deploy of a Worker whose new version adds a column, with
// write-behind through ONE Cloudflare Queue whose batches go to consumers of BOTH versions while
// both are live (a seeded schedule picks the version per batch, cuts batches anywhere, crashes the
// consumer after the flush so the batch comes back). Phases: v1 alone; v1 and v2 together; v2 alone
// (v1's isolates gone). Afterwards Postgres holds each key's last acknowledged `n`, and the `extra`
// of its last v2 write (a v1 write never sends it, so never clears it, unless the row was deleted
// in between); every tier of v2 (L1, a fresh isolate's L2, searchCached) answers Postgres.
// Also checked: no write came back more often than max_retries (3) would allow, since past that
// the platform moves it to the dead-letter queue, acknowledged and never applied.

const SEED = Number(process.env.STRATA_DEPLOY_SEED ?? 91205);
const MAX_RETRIES = 3;
const name = uniqueName('deploy_roll');
const v1Table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
const v2Table = pgSchema(name).table('items', {
  id: text('id').primaryKey(),
  n: integer('n').notNull(),
  extra: text('extra'),
});
const options = { name: 'items', writeMode: 'write-behind', l1: { ttl: '60s' }, l2: { ttl: '5m' } } as const;
const v1 = defineSchema({ table: v1Table, ...options });
const v2 = defineSchema({ table: v2Table, ...options });
const probe = workerProbe(name);
const { bindings, admin, raw } = probe;
const platform = queuePlatform();
/** An isolate of one version: its own env object, so its own Strata. */
const isolate = (version: typeof v1 | typeof v2) => {
  const env = { ...bindings, WRITES: platform.producer };
  const strata = createStrata(env, { schemas: [version], keyPrefix: name, migrationsSchema: name });
  probe.track(strata);
  return strata;
};

beforeAll(async () => {
  await raw.connect();
  await admin.query(`create schema "${name}"`);
  // The expand migration ran before the deploy: v1 runs on the table with the new column.
  await admin.query(`create table "${name}".items (id text primary key, n integer not null, extra text)`);
});

afterAll(() => probe.cleanUp([name]));

type Step =
  | { kind: 'set' | 'delete'; v2: boolean; key: number; extra: string }
  | { kind: 'deliver'; v2: boolean; size: number; crash: boolean };
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constantFrom('set' as const, 'set' as const, 'set' as const, 'delete' as const),
      v2: fc.boolean(),
      key: fc.integer({ min: 0, max: 2 }),
      extra: fc.constantFrom('x', 'y', 'z'),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('deliver' as const),
      v2: fc.boolean(),
      size: fc.integer({ min: 1, max: 6 }),
      crash: fc.boolean(),
    }),
  },
);

it('v1 and v2 (an added column) write and consume one queue at once, then v2 alone: every write lands, extra kept', async () => {
  const writers = { v1: isolate(v1), v2: isolate(v2) };
  const consumers = { v1: isolate(v1), v2: isolate(v2) };
  const phases = fc.sample(fc.array(stepArb, { minLength: 50, maxLength: 50 }), { seed: SEED, numRuns: 3 });
  const model = new Map<string, { n: number; extra: string | null } | null>();
  let n = 0;
  for (const [phase, steps] of phases.entries()) {
    for (const step of steps) {
      // Phase 0: only v1 is deployed; phase 2: only v2 is left.
      const version = phase === 0 ? 'v1' : phase === 2 ? 'v2' : step.v2 ? 'v2' : 'v1';
      if (step.kind === 'deliver') {
        await platform.deliver(consumers[version], step.size, step.crash);
        continue;
      }
      const id = `k${step.key}`;
      const before = model.get(id) ?? null;
      if (step.kind === 'delete') {
        await writers[version].delete(version === 'v1' ? v1 : v2, id);
        model.set(id, null);
      } else if (version === 'v1') {
        await writers.v1.set(v1, { id, n: ++n });
        model.set(id, { n, extra: before?.extra ?? null });
      } else {
        await writers.v2.set(v2, { id, n: ++n, extra: step.extra });
        model.set(id, { n, extra: step.extra });
      }
    }
  }
  await platform.drain(consumers.v2);
  await writers.v2.settled();
  expect(platform.queued).toEqual([]);

  const { rows } = await admin.query<{ id: string; n: number; extra: string | null }>(
    `select id, n, extra from "${name}".items order by id`,
  );
  const expected = [...model]
    .filter(([, row]) => row !== null)
    .map(([id, row]) => ({ id, ...row! }))
    .sort((a, b) => a.id.localeCompare(b.id));
  expect(rows).toEqual(expected);
  for (const [where, strata] of [
    ['v2 writer', writers.v2],
    ['v2 consumer', consumers.v2],
    ['fresh v2 isolate', isolate(v2)],
  ] as const) {
    for (const k of [0, 1, 2]) {
      const got = (await strata.find(v2, `k${k}`)) ?? null;
      const want = rows.find((r) => r.id === `k${k}`) ?? null;
      expect({ where, id: `k${k}`, row: got }).toEqual({ where, id: `k${k}`, row: want });
    }
    const listed = await strata.searchCached(v2, Q().orderBy('id').build());
    expect({ where, listed }).toEqual({ where, listed: rows });
  }
  console.info(`[deploy-rolling] seed ${SEED}: most retry() of one message ${platform.mostRetries()}`);
  // The consumer itself asked for no write more often than the platform redelivers one.
  expect(platform.mostRetries()).toBeLessThanOrEqual(MAX_RETRIES);
});
