import { neonConfig, neon as neonHttp, Pool } from '@neondatabase/serverless';
import { neonLocalConfig } from '@strata/devstack';
import { testDevstack } from '@strata/devstack/testing';
import { sql } from 'drizzle-orm';
import { drizzle as drizzleHttp } from 'drizzle-orm/neon-http';
import { drizzle } from 'drizzle-orm/neon-serverless';
import ws from 'ws';
import { createDrizzleL3 } from '../src/drizzle/l3.js';
import { describeL3Conformance } from '../testing/l3-conformance.js';

describeL3Conformance('drizzle neon-serverless (WebSocket)', async ({ schemaName, logQuery }) => {
  const { neon } = testDevstack();
  Object.assign(neonConfig, neonLocalConfig(neon), { webSocketConstructor: ws });
  // Building a neon-http Drizzle swaps the package's global timestamp parsers for the identity; an app
  // with both drivers gets text timestamps on the WebSocket too. Do it first: Dates must still come back.
  drizzleHttp({ client: neonHttp(neon.connectionString) });
  const pool = new Pool({ connectionString: neon.connectionString, max: 4 });
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
