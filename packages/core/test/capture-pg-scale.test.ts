import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureTables } from '../src/drizzle/capture/change-log.js';
import { capturePlan, installStatements } from '../src/drizzle/capture/trigger-ddl.js';
import type { Database } from '../src/drizzle/database.js';
import { changeCapture, createDrizzleL3 } from '../src/drizzle/index.js';
import { rowsOf } from '../src/drizzle/rows.js';
import { defineSchema, Strata } from '../src/index.js';
import type { L3Tier } from '../src/l3/types.js';
import { createMemoryQueue } from '../src/queue/memory-queue.js';
import { type EngineStack, engineStack } from './support/stack.js';

// The trigger's cost on Strata's own large writes. plpgsql caches a statement's plan per session,
// and after five runs keeps a generic one, planned for the transition tables' size at the time: one
// row after single-row writes. A plan that was only right for one row (an anti-join that reads
// every version row of the schema once per changed row) then made a 1,000-row write quadratic.
// Counted, not timed: the version tuples the transaction fetched, a number the plan decides.
let stack: EngineStack;
let strata: Strata;
let counters: ReturnType<typeof countersSchema>;
let sessions: ReturnType<typeof sessionsSchema>;

const countersSchema = () => defineSchema({ table: stack.tables.counters });
// Write-behind: its trigger logs without bumping (another statement), its writes carry versions.
const sessionsSchema = () => defineSchema({ table: stack.tables.sessions, writeMode: 'write-behind' });
const ROWS = 1_000;

beforeAll(async () => {
  stack = await engineStack('capture_pg_scale');
  counters = countersSchema();
  sessions = sessionsSchema();
  strata = new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    schemas: [counters, sessions],
    writeBehind: { queue: createMemoryQueue() },
  });
  await strata.migrate({ capture: true });
});
afterAll(async () => {
  await strata?.close();
  await stack?.cleanup();
});

/** Version tuples this transaction fetched (by index or bitmap scans): exact and immediate. */
async function versionsFetched(tx: Database): Promise<number> {
  const versions = `"${stack.name}"."_strata_versions"`;
  const result = await tx.execute(
    sql`select coalesce(idx_tup_fetch, 0)::int as n from pg_stat_xact_user_tables where relid = ${versions}::regclass`,
  );
  return Number(rowsOf(result)[0]?.n);
}

/** Writes `ids` as Strata's write-through (`counters`) or write-behind flush (`sessions`) would. */
function write(l3: L3Tier, table: 'counters' | 'sessions', ids: readonly number[], n: number) {
  if (table === 'counters')
    return l3.write([{ schema: counters, writes: ids.map((id) => ({ row: { id, n } })) }]);
  // Redis-ordered: each write carries its version, n + 1 (above the stored one).
  const rows = ids.map((id) => ({ row: { id: `s${id}`, userId: `u${n}` }, version: n + 1 }));
  return l3.write([{ schema: sessions, writes: rows }]);
}

/**
 * In one transaction (one connection: its plan cache is the one the single-row writes fill), eight
 * single-row inserts and updates of keys from `base`, then 1,000 rows inserted and updated. Resolves
 * the version tuples the two 1,000-row writes fetched, and the log rows the schema holds.
 */
function ownWrites(table: 'counters' | 'sessions', base: number, { marks = false } = {}) {
  const many = Array.from({ length: ROWS }, (_, i) => base + 10_000 + i);
  return stack.db.transaction(async (raw) => {
    const tx = raw as unknown as Database;
    // An L3 with capture marks its statements' keys; one without is told apart by its version rows.
    const l3 = createDrizzleL3(tx, {
      migrationsSchema: stack.name,
      ...(marks && { capture: changeCapture }),
    });
    for (let i = 0; i < 8; i++) await write(l3, table, [base + i], 0); // the INSERT trigger's plan
    for (let i = 0; i < 8; i++) await write(l3, table, [base + i], 1); // the UPDATE trigger's plan
    const before = await versionsFetched(tx);
    await write(l3, table, many, 0); // 1,000 inserts: the INSERT trigger
    await write(l3, table, many, 1); // 1,000 updates: the UPDATE trigger
    const fetched = (await versionsFetched(tx)) - before;
    const log = await tx.execute(sql.raw(`select count(*)::int as n from "${stack.name}"."_strata_changes"`));
    return { fetched, logged: Number(rowsOf(log)[0]?.n) };
  });
}

describe("Strata's own 1,000-row writes", () => {
  it.each(['counters', 'sessions'] as const)(
    '%s: probe each key once even when the trigger cached its plan on single-row writes',
    async (table) => {
      const { fetched, logged } = await ownWrites(table, 0);
      expect(logged).toBe(0); // Strata's own writes: nothing logged
      // Two writes of 1,000 keys: Strata's statements and the triggers' probes, a few per key. The
      // quadratic plan fetched the schema's version rows once per key: over 500,000 here.
      expect(fetched).toBeGreaterThanOrEqual(2 * ROWS);
      expect(fetched).toBeLessThan(5 * ROWS);
    },
  );

  it.each(['counters', 'sessions'] as const)(
    '%s: an L3 with capture marks its keys, and the trigger probes none of them',
    async (table) => {
      const unmarked = await ownWrites(table, 300_000);
      const marked = await ownWrites(table, 400_000, { marks: true });
      expect(marked.logged).toBe(unmarked.logged);
      expect(marked.fetched).toBeLessThanOrEqual(unmarked.fetched - 2 * ROWS);
    },
  );

  it('an install made before the fix is reported outdated, and re-running install upgrades it', async () => {
    const plan = capturePlan(captureTables(stack.name), counters);
    // The body as installed before: the own-write test as a NOT EXISTS (an anti-join when planned).
    const old = plan.template.replace(
      /\(SELECT o\.xmin FROM (\S+) o WHERE (.+?)\) IS DISTINCT FROM me/g,
      'NOT EXISTS (SELECT 1 FROM $1 o WHERE $2 AND o.xmin = me)',
    );
    expect(old).not.toBe(plan.template);
    await stack.pool.query(installStatements(captureTables(stack.name), { ...plan, template: old })[0]!);
    const [before] = await strata.capture.check();
    expect(before).toMatchObject({
      schema: counters.identity,
      installed: false,
      missing: [`function ${plan.functionName} (outdated)`],
    });
    expect((await ownWrites('counters', 100_000)).logged).toBe(0); // the old body works, only slower
    await strata.capture.install();
    expect((await strata.capture.check()).every((c) => c.installed)).toBe(true);
    const after = await ownWrites('counters', 200_000);
    expect(after).toEqual({ fetched: expect.any(Number), logged: 0 });
    expect(after.fetched).toBeLessThan(5 * ROWS);
  });
});
