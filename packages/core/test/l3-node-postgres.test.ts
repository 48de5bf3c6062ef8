import { serviceUrls } from '@strata/devstack/testing';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { createDrizzleL3 } from '../src/drizzle/l3.js';
import { describeL3Conformance } from '../testing/l3-conformance.js';

describeL3Conformance('drizzle node-postgres', async ({ schemaName, logQuery }) => {
  const pool = new pg.Pool({ connectionString: serviceUrls().databaseUrl, max: 4 });
  // An idle client's disconnect is emitted on the pool; unhandled, it would kill the worker.
  pool.on('error', () => {});
  const db = drizzle({ client: pool, logger: { logQuery } });
  return {
    l3: createDrizzleL3(db, { migrationsSchema: schemaName }),
    db,
    cleanup: async () => {
      await db.execute(sql`drop schema if exists ${sql.identifier(schemaName)} cascade`);
      await pool.end();
    },
  };
});
