import { afterAll, beforeAll, describe } from 'vitest';
import type { Database } from '../src/drizzle/database.js';
import type { L3Tier } from '../src/l3/types.js';
import { registerAtomicTests } from './l3-conformance-atomic.js';
import { registerBulkTests } from './l3-conformance-bulk.js';
import { registerConcurrencyTests } from './l3-conformance-concurrency.js';
import { registerFoldedWriteTests } from './l3-conformance-folded.js';
import { registerIdentityTests } from './l3-conformance-identity.js';
import { registerInjectionTests } from './l3-conformance-injection.js';
import { registerMergeRefusedTests } from './l3-conformance-merge-refused.js';
import { registerMigrationTests } from './l3-conformance-migrate.js';
import { registerMixedOrderTests } from './l3-conformance-mixed-orders.js';
import { model } from './l3-conformance-model.js';
import { registerRedisOrderedTests } from './l3-conformance-redis-ordered.js';
import { registerReplaceTests } from './l3-conformance-replace.js';
import { registerRowTests } from './l3-conformance-rows.js';
import { registerSearchTests } from './l3-conformance-search.js';
import { registerShapeTests } from './l3-conformance-shapes.js';
import type { L3Suite } from './l3-conformance-suite.js';
import { queryModel } from './l3-conformance-tables.js';
import { registerTypeTests } from './l3-conformance-types.js';
import { registerVersionTests } from './l3-conformance-versions.js';
import { versionsModel } from './l3-conformance-versions-model.js';
import { registerWalPositionTests } from './l3-conformance-wal.js';
import { registerWithdrawnTests } from './l3-conformance-withdrawn.js';
import { registerWriterClaimTests } from './l3-conformance-writers.js';

/** What the suite hands the factory. */
export interface L3FixtureContext {
  /** A Postgres schema no other run uses: the suite's tables live there. Drop it in `cleanup`. */
  schemaName: string;
  /**
   * Call for every statement the driver sends (Drizzle's `logger: { logQuery }`, or a wrapped client
   * where the logger misses batches), with its parameters: the suite counts statements (write
   * parts) and checks that values travel as parameters, never inside the SQL text.
   */
  logQuery(query: string, params: unknown[]): void;
}

/** What a conformance run needs from an implementation. */
export interface L3Fixture {
  /**
   * Keep `_strata_migrations` and `_strata_versions` in `schemaName` (`migrationsSchema`), so parallel
   * runs never share them. Give it a pool of 2 connections or more where the driver has one: the
   * concurrency tests run writers side by side.
   */
  l3: L3Tier;
  /**
   * The same database, for checks against the catalog and for L3s with other options (a small
   * `maxParameters`); those checks are skipped without it.
   */
  db?: Database;
  /** Drops `schemaName` (cascade) and closes what the factory opened. */
  cleanup(): Promise<void>;
}

/**
 * The L3 seam's conformance suite, written once and run against every driver.
 * @example
 * describeL3Conformance('node-postgres', async ({ schemaName, logQuery }) => {
 *   const pool = new pg.Pool({ connectionString: serviceUrls().databaseUrl });
 *   const db = drizzle({ client: pool, logger: { logQuery } });
 *   const drop = () => db.execute(sql`drop schema if exists ${sql.identifier(schemaName)} cascade`);
 *   return { l3: createDrizzleL3(db, { migrationsSchema: schemaName }), db, cleanup: async () => { await drop(); await pool.end(); } };
 * });
 */
export function describeL3Conformance(
  name: string,
  factory: (context: L3FixtureContext) => Promise<L3Fixture>,
): void {
  describe(`L3 conformance: ${name}`, () => {
    const random = crypto.getRandomValues(new Uint32Array(2));
    const schemaName = `strata_l3_${random[0]!.toString(36)}${random[1]!.toString(36)}`;
    let fixture: L3Fixture | undefined;
    const suite: L3Suite = {
      schemaName,
      log: [],
      l3: () => {
        if (!fixture) throw new Error('the L3 fixture did not start');
        return fixture.l3;
      },
      db: () => fixture?.db,
    };

    beforeAll(async () => {
      fixture = await factory({ schemaName, logQuery: (query, params) => suite.log.push({ query, params }) });
    });
    afterAll(async () => {
      await fixture?.cleanup();
    });

    // In this order: the row and bulk tests use the tables the migration tests create; the later
    // parts migrate their own tables and leave the earlier ones alone. The version tests drop
    // `_strata_versions` (to see it come back): nothing after them counts on earlier versions.
    const m = model(schemaName);
    registerMigrationTests(suite, m);
    registerRowTests(suite, m);
    registerBulkTests(suite, m);
    registerShapeTests(suite);
    registerTypeTests(suite);
    const q = queryModel(schemaName);
    registerSearchTests(suite, q);
    registerInjectionTests(suite, q);
    registerAtomicTests(suite, q);
    registerWalPositionTests(suite, q);
    const v = versionsModel(schemaName);
    registerVersionTests(suite, v);
    registerRedisOrderedTests(suite, v);
    registerMixedOrderTests(suite, v);
    registerFoldedWriteTests(suite, v);
    registerWithdrawnTests(suite, v);
    registerConcurrencyTests(suite, v);
    registerReplaceTests(suite);
    registerMergeRefusedTests(suite);
    registerIdentityTests(suite);
    registerWriterClaimTests(suite, q);
  });
}
