import { neon, neonConfig } from '@neondatabase/serverless';
import { neonLocalConfig } from '@strata/devstack';
import { testDevstack } from '@strata/devstack/testing';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/neon-http';
import { createDrizzleL3 } from '../src/l3/drizzle-l3.js';
import { describeL3Conformance } from '../testing/l3-conformance.js';

describeL3Conformance('drizzle neon-http (batch)', async ({ schemaName, logQuery }) => {
  const endpoint = testDevstack().neon;
  Object.assign(neonConfig, neonLocalConfig(endpoint));
  const client = neon(endpoint.connectionString);
  // Statements inside db.batch never reach Drizzle's logger: count them where the client builds them.
  const counted = new Proxy(client, {
    get(target, property, receiver) {
      if (property !== 'query') return Reflect.get(target, property, receiver);
      return (query: string, params?: unknown[], options?: Parameters<typeof client.query>[2]) => {
        logQuery(query, params ?? []);
        return target.query(query, params, options);
      };
    },
  });
  const db = drizzle({ client: counted });
  return {
    l3: createDrizzleL3(db, { migrationsSchema: schemaName }),
    db,
    cleanup: async () => {
      await db.execute(sql`drop schema if exists ${sql.identifier(schemaName)} cascade`);
    },
  };
});
