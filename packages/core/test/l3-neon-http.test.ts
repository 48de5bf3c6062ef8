import { neon, neonConfig } from '@neondatabase/serverless';
import { neonLocalConfig } from '@strata/devstack';
import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/neon-http';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createDrizzleL3 } from '../src/drizzle/l3.js';
import { defineSchema } from '../src/schema/define-schema.js';
import { describeL3Conformance } from '../testing/l3-conformance.js';

function neonHttp() {
  const endpoint = testDevstack().neon;
  Object.assign(neonConfig, neonLocalConfig(endpoint));
  return { endpoint, client: neon(endpoint.connectionString) };
}

describeL3Conformance('drizzle neon-http (batch)', async ({ schemaName, logQuery }) => {
  const { client } = neonHttp();
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

describe('neon-http: a write of several statements is one request (db.batch), all or nothing', () => {
  const schemaName = uniqueName('l3_neon_batch');
  const { endpoint, client } = neonHttp();
  const db = drizzle({ client });
  const l3 = createDrizzleL3(db, { migrationsSchema: schemaName });
  const s = pgSchema(schemaName);
  const items = defineSchema({
    table: s.table('items', { id: text('id').primaryKey(), n: integer('n').notNull() }),
  });
  const logs = defineSchema({
    table: s.table('logs', { id: integer('id').primaryKey(), note: text('note') }),
  });

  afterAll(async () => {
    await db.execute(sql`drop schema if exists ${sql.identifier(schemaName)} cascade`);
  });

  /** HTTP requests to the Neon endpoint, and the statements they carry, while `work` runs. */
  async function requests(work: () => Promise<unknown>) {
    const counts = { requests: 0, statements: 0 };
    const inner = globalThis.fetch;
    globalThis.fetch = (input, init) => {
      if (String(input instanceof Request ? input.url : input).startsWith(endpoint.httpUrl)) {
        counts.requests += 1;
        const body = JSON.parse(typeof init?.body === 'string' ? init.body : '{}') as { queries?: unknown[] };
        counts.statements += body.queries?.length ?? 1;
      }
      return inner(input, init);
    };
    try {
      await work();
    } finally {
      globalThis.fetch = inner;
    }
    return counts;
  }

  it('sends versions and rows of two schemas, shapes, deletes and both orderings in one request', async () => {
    await l3.migrate([items, logs]);
    const call = (n: number | null) =>
      l3.write([
        { schema: items, writes: [{ row: { id: 'a', n: 1 } }, { row: { id: 'b', n } }, { id: 'c' }] },
        {
          schema: logs,
          writes: [
            { row: { id: 1, note: 'x' }, version: 7 },
            { row: { id: 2 }, version: 7 },
          ],
        },
      ]);
    const failed = await requests(() => call(null).catch((e: unknown) => e));
    expect(failed.requests).toBe(1);
    expect(await l3.findMany(items, ['a', 'b'])).toEqual([]);
    expect(await l3.findMany(logs, [1, 2])).toEqual([]);
    let results: unknown;
    const counts = await requests(async () => {
      results = await call(2);
    });
    // Two version statements (Postgres- then Redis-ordered keys), then one per group (items' sets,
    // items' delete, and logs' two shapes): 2 + 4.
    expect(counts).toEqual({ requests: 1, statements: 6 });
    expect(results).toEqual([
      [
        { applied: true, version: 1, row: { id: 'a', n: 1 } },
        { applied: true, version: 1, row: { id: 'b', n: 2 } },
        { applied: true, version: 1, existed: false },
      ],
      [
        { applied: true, version: 7, row: { id: 1, note: 'x' } },
        { applied: true, version: 7, row: { id: 2, note: null } },
      ],
    ]);
    // One schema, one shape: one statement, versions and rows together.
    expect(await requests(() => l3.write([{ schema: items, writes: [{ row: { id: 'd', n: 4 } }] }]))).toEqual(
      {
        requests: 1,
        statements: 1,
      },
    );
  });
});
