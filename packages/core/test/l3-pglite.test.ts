import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import { createDrizzleL3 } from '../src/drizzle/l3.js';
import { describeL3Conformance } from '../testing/l3-conformance.js';

describeL3Conformance('drizzle pglite (in process)', async ({ schemaName, logQuery }) => {
  const client = new PGlite();
  await client.waitReady;
  const db = drizzle({ client, logger: { logQuery } });
  return {
    l3: createDrizzleL3(db, { migrationsSchema: schemaName }),
    db,
    // The whole database lives in this process: closing it drops the schema with it.
    cleanup: () => client.close(),
  };
});
