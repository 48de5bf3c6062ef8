import { dropScratchSchema, serviceUrls, uniqueName } from '@strata/devstack/testing';
import { inArray, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrizzleL3 } from '../src/drizzle/l3.js';
import type { PendingWrite } from '../src/l3/types.js';
import { defineSchema } from '../src/schema/define-schema.js';

// The overlay's rule for the writes a pending set carries beneath it (`PendingWrite.under`), as the
// flush's `applyBeneath` applies them: at their own version, only over an older stored version;
// their defaults only over no stored row; a delete beneath makes the set's row a new one. The engine
// side (the pending index's `<` field, a Redis reset, L2 down) is
// reliability/test/regression-search-beneath.test.ts.
const schemaName = uniqueName('search_under_overlay');
const pool = new pg.Pool({ connectionString: serviceUrls().databaseUrl });
pool.on('error', () => {});
const db = drizzle({ client: pool });
const l3 = createDrizzleL3(db, { migrationsSchema: schemaName });
const items = pgSchema(schemaName).table('items', {
  id: text('id').primaryKey(),
  n: integer('n'),
  note: text('note'),
});
const schema = defineSchema({ table: items, writeMode: 'write-behind' });

beforeAll(async () => {
  await db.execute(sql`create schema ${sql.identifier(schemaName)}`);
  await l3.migrate([schema]);
  // Postgres holds each stored row at version 5.
  await l3.write([
    {
      schema,
      writes: ['old', 'refused', 'deleted', 'named'].map((id) => ({
        row: { id, n: 1, note: 'old' },
        version: 5,
      })),
    },
  ]);
});
afterAll(async () => {
  await dropScratchSchema(pool, schemaName);
  await pool.end();
});

/** Each pending set writes n: 2 at version 8. */
const set = (id: string, under: PendingWrite['under']): PendingWrite => ({
  id,
  version: 8,
  row: { id, n: 2 },
  ...(under && { under }),
});
const pending: PendingWrite[] = [
  set('old', { version: 6, row: { id: 'old', note: 'beneath' } }),
  set('refused', { version: 5, row: { id: 'refused', note: 'beneath' } }),
  set('deleted', { version: 6 }),
  set('named', { version: 6, row: { id: 'named', note: 'default' }, defaults: ['note'] }),
  set('new', { version: 6, row: { id: 'new', note: 'default' }, defaults: ['note'] }),
];

describe('a search lays the writes beneath a pending set as their flush applies them', () => {
  it('before the flush as after it: search and count', async () => {
    const ids = pending.map((w) => w.id);
    const query = {
      where: inArray(items.id, ids),
      orderBy: [{ key: 'id', desc: false }],
      limit: 10,
      offset: 0,
    };
    const before = (await l3.search(schema, { ...query, pending })).map((r) => r.row);
    const counted = await l3.count(schema, sql`${items.note} = 'beneath'`, pending);
    expect(before).toEqual([
      { id: 'deleted', n: 2, note: null }, // the delete beneath, then the set: a new row
      { id: 'named', n: 2, note: 'old' }, // a default beneath only inserts
      { id: 'new', n: 2, note: 'default' }, // over no stored row it does
      { id: 'old', n: 2, note: 'beneath' },
      { id: 'refused', n: 2, note: 'old' }, // at the stored version: refused, as at its flush
    ]);
    expect(counted).toBe(1);
    // The flush: each write beneath alone at its version (`applyBeneath`), then the set.
    await l3.write([
      {
        schema,
        writes: pending.map(({ id, under }) =>
          under!.row
            ? {
                row: under!.row,
                version: under!.version,
                ...(under!.defaults && { defaults: under!.defaults }),
              }
            : { id, version: under!.version },
        ),
      },
    ]);
    await l3.write([{ schema, writes: pending.map(({ row, version }) => ({ row: row!, version })) }]);
    const after = (await l3.search(schema, query)).map((r) => r.row);
    expect(after).toEqual(before);
  });
});
