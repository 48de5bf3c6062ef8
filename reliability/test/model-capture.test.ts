import { changeRelay, type Strata } from '@strata/core';
import { changeCapture, createDrizzleL3 } from '@strata/core/drizzle';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { record } from '../support/ledger.js';
import { type TierStack, testKey, tierStack } from '../support/stack-tiers.js';

// Issue 16, tried to break: Strata's writes (which mark their keys for the capture trigger) mixed
// with writes made outside Strata through a plain pg client — single statements, a transaction that
// writes a key twice, an upsert, a delete — on two instances with a pub/sub bus and the lease relay.
// Before a relay pass any instance may serve what an outside write replaced; after one pass and the
// bus's bound, every instance serves what Postgres holds, key by key, and Strata's own writes were
// never logged as outside ones (the log holds exactly the outside statements that changed a row),
// also when a Strata set and an outside update of one key run at once.

const BOUND_MS = 1_000;
const INSTANCES = 2;
const KEYS = 3;
const RUNS = Number(process.env.STRATA_CAPTURE_MODEL_RUNS ?? 40);

type Op =
  | { kind: 'set'; at: number; key: number; level: number }
  | { kind: 'delete'; at: number; key: number }
  | { kind: 'read'; at: number; key: number }
  | { kind: 'outsideUpdate'; key: number; level: number }
  | { kind: 'outsideUpsert'; key: number; level: number }
  | { kind: 'outsideDelete'; key: number }
  | { kind: 'outsideTwice'; key: number; level: number }
  | { kind: 'relay'; at: number }
  /** A Strata set and an outside update of the same key at once: either may commit last. */
  | { kind: 'race'; at: number; key: number; level: number };

const at = fc.integer({ min: 0, max: INSTANCES - 1 });
const key = fc.integer({ min: 0, max: KEYS - 1 });
const level = fc.integer({ min: 1, max: 1_000_000 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at, key, level }),
  fc.record({ kind: fc.constant('delete' as const), at, key }),
  fc.record({ kind: fc.constant('read' as const), at, key }),
  fc.record({ kind: fc.constant('outsideUpdate' as const), key, level }),
  fc.record({ kind: fc.constant('outsideUpsert' as const), key, level }),
  fc.record({ kind: fc.constant('outsideDelete' as const), key }),
  fc.record({ kind: fc.constant('outsideTwice' as const), key, level }),
  fc.record({ kind: fc.constant('relay' as const), at }),
  fc.record({ kind: fc.constant('race' as const), at, key, level }),
);

describe('model: Strata and outside writes on captured tables, 2 instances, lease relay', () => {
  let stack: TierStack;
  let instances: Strata[] = [];
  // Outside writes replace Strata's here, so "acknowledged and found" is not this model's measure:
  // it counts operations and the checks that every instance served Postgres's row.
  const tally = { operations: 0, checks: 0, runs: 0 };

  beforeAll(async () => {
    stack = await tierStack('model_capture', 'ioredis');
  });
  afterAll(async () => {
    await Promise.allSettled(instances.map((s) => s.close()));
    await stack?.cleanup();
    record({
      category: 'deployments',
      scenario: `model: Strata and outside writes on a captured table, ${INSTANCES} instances, lease relay (${tally.runs} runs, ${tally.checks} reads checked against Postgres)`,
      operations: tally.operations,
      writesAcknowledged: 0,
      writesFound: 0,
      hangs: 0,
    });
  });

  it('after a relay pass, every instance serves what Postgres holds; none of Strata’s writes is logged', async () => {
    const schema = stack.schemaOf({ name: 'captured' });
    const table = `"${stack.name}"."accounts"`;
    // An L3 with capture: it marks its statements, installs the triggers and reads the log.
    const l3 = createDrizzleL3(stack.db, { migrationsSchema: stack.name, capture: changeCapture });
    instances = Array.from({ length: INSTANCES }, () =>
      stack.strata({
        l3,
        schemas: [schema],
        coherence: { bus: stack.bus() },
        encryptionKey: testKey(16),
        ttl: { l1: '10m', l2: '10m' }, // the caches follow the database through the relay, not TTLs
        capture: { relay: changeRelay({ interval: '1h' }) }, // only the steps' passes read the log
      }),
    );
    await instances[0]!.capture.install();
    for (const s of instances) await s.find(schema, 'warm-up'); // subscribed before the first write
    await instances[0]!.relayChanges(); // the cursor exists from here on
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 40 }), async (ops) => {
        run += 1;
        tally.runs = run;
        const id = (k: number) => `c${run}-k${k}`;
        const logBefore = await logEntries();
        let outsideStatements = 0;
        for (const o of ops) {
          tally.operations += 1;
          switch (o.kind) {
            case 'set':
              await instances[o.at]!.set(schema, { id: id(o.key), name: 'n', level: o.level });
              break;
            case 'delete':
              await instances[o.at]!.delete(schema, id(o.key)).catch(ignoreNotFound);
              break;
            case 'read':
              await instances[o.at]!.find(schema, id(o.key));
              break;
            case 'outsideUpdate':
              outsideStatements += await outside(`update ${table} set level = $2 where id = $1`, [
                id(o.key),
                o.level,
              ]);
              break;
            case 'outsideUpsert':
              outsideStatements += await outside(
                `insert into ${table} (id, name, level) values ($1, 'outside', $2) on conflict (id) do update set level = excluded.level`,
                [id(o.key), o.level],
              );
              break;
            case 'outsideDelete':
              outsideStatements += await outside(`delete from ${table} where id = $1`, [id(o.key)]);
              break;
            case 'outsideTwice':
              outsideStatements += await outsideTransaction(table, id(o.key), o.level);
              break;
            case 'race': {
              const [, changed] = await Promise.all([
                instances[o.at]!.set(schema, { id: id(o.key), name: 'n', level: o.level }),
                outside(`update ${table} set level = $2 where id = $1`, [id(o.key), o.level + 1]),
              ]);
              outsideStatements += changed;
              break;
            }
            case 'relay':
              await instances[o.at]!.relayChanges();
              await checkAllServePostgres(ops, id);
              break;
          }
        }
        await instances[0]!.relayChanges();
        await checkAllServePostgres(ops, id);
        // Each outside statement that changed a row is one log entry; Strata's own statements none.
        expect((await logEntries()) - logBefore).toBe(outsideStatements);
      }),
      { numRuns: RUNS, endOnFailure: true },
    );

    /** Rows the statement changed (0 or 1 here): a statement that changed none logs nothing. */
    async function outside(text: string, values: unknown[]): Promise<number> {
      const result = await stack.pool.query(text, values);
      return (result.rowCount ?? 0) > 0 ? 1 : 0;
    }

    /** One transaction writing the key twice: two statements, two entries (each bumps the key). */
    async function outsideTransaction(target: string, rowId: string, value: number): Promise<number> {
      const client = await stack.pool.connect();
      try {
        await client.query('begin');
        const first = await client.query(`update ${target} set level = $2 where id = $1`, [rowId, value]);
        const second = await client.query(`update ${target} set level = level + 1 where id = $1`, [rowId]);
        await client.query('commit');
        return ((first.rowCount ?? 0) > 0 ? 1 : 0) + ((second.rowCount ?? 0) > 0 ? 1 : 0);
      } catch (error) {
        await client.query('rollback');
        throw error;
      } finally {
        client.release();
      }
    }

    async function logEntries(): Promise<number> {
      const { rows } = await stack.pool.query(
        `select count(*)::int as n from "${stack.name}"."_strata_changes"`,
      );
      return rows[0].n as number;
    }

    /** Every instance serves Postgres's row (or none) for every key the run used, within the bus bound. */
    async function checkAllServePostgres(ops: readonly Op[], id: (k: number) => string): Promise<void> {
      const used = [
        ...new Set(ops.map((o) => ('key' in o ? o.key : undefined)).filter((k) => k !== undefined)),
      ];
      for (const k of used) {
        const { rows } = await stack.pool.query(`select level from ${table} where id = $1`, [id(k)]);
        const expected = rows[0]?.level ?? null;
        for (const [i, s] of instances.entries()) {
          const deadline = performance.now() + BOUND_MS;
          for (;;) {
            const served = (await s.find(schema, id(k)))?.level ?? null;
            if (served === expected) {
              tally.checks += 1;
              break;
            }
            if (performance.now() > deadline)
              throw new Error(
                `instance ${i} serves level ${served} for ${id(k)}; Postgres holds ${expected}`,
              );
            await new Promise((resolve) => setTimeout(resolve, 2));
          }
        }
      }
    }
  }, 600_000);
});

function ignoreNotFound(error: unknown): void {
  if ((error as { code?: string }).code !== 'NOT_FOUND') throw error;
}
