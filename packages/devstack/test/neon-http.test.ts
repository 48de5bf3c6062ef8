import { type NeonQueryFunction, neon, neonConfig, Pool } from '@neondatabase/serverless';
import { eq, like } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/neon-http';
import {
  bigint,
  boolean,
  customType,
  integer,
  jsonb,
  pgSchema,
  serial,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { neonLocalConfig } from '../src/neon/client-config.js';
import { startNeonServer } from '../src/neon/server.js';
import { serviceUrls, uniqueName } from '../src/testing/env.js';
import type { NeonEndpoint } from '../src/types.js';

const { databaseUrl } = serviceUrls();
const schemaName = uniqueName('neon_http');

const bytea = customType<{ data: Buffer; driverData: Uint8Array }>({
  dataType: () => 'bytea',
  fromDriver: (value) => Buffer.from(value),
});
const schema = pgSchema(schemaName);
const items = schema.table('items', {
  id: serial('id').primaryKey(),
  label: text('label').notNull().unique(),
  count: integer('count'),
  big: bigint('big', { mode: 'bigint' }),
  flag: boolean('flag'),
  at: timestamp('at', { withTimezone: true }),
  doc: jsonb('doc').$type<{ name: string; nested: { n: number } }>(),
  data: bytea('data'),
  tags: text('tags').array(),
  nums: integer('nums').array(),
});

let endpoint: NeonEndpoint;
let sql: NeonQueryFunction<false, false>;
let db: ReturnType<typeof drizzle>;

beforeAll(async () => {
  endpoint = await startNeonServer({ databaseUrl });
  // No webSocketConstructor here: in Node 20 anything that tried a WebSocket would fail.
  Object.assign(neonConfig, neonLocalConfig(endpoint));
  sql = neon(endpoint.connectionString);
  db = drizzle({ client: sql });
  // The HTTP API runs one statement per query, as Neon does.
  await sql.query(`create schema ${schemaName}`);
  await sql.query(`create table ${schemaName}.items (
    id serial primary key, label text not null unique, count integer, big bigint, flag boolean,
    at timestamptz, doc jsonb, data bytea, tags text[], nums integer[])`);
});

afterAll(async () => {
  await sql?.query(`drop schema if exists ${schemaName} cascade`);
  await endpoint?.stop();
});

async function labels(prefix: string): Promise<string[]> {
  const rows = await db
    .select({ label: items.label })
    .from(items)
    .where(like(items.label, `${prefix}%`))
    .orderBy(items.label);
  return rows.map((row) => row.label);
}

/** Runs `promise`, expecting it to reject, and returns the error. */
async function failure(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof Error)) throw new Error(`expected a rejection, got ${String(err)}`);
  return err as Error & Record<string, unknown>;
}

describe('neon() over the local HTTP endpoint', () => {
  it('round-trips parameters of every common type through the raw sql tag', async () => {
    const at = new Date('2023-06-01T12:34:56.789Z');
    const bytes = Buffer.from([0, 127, 128, 255]);
    const rows =
      await sql`select ${7}::int as i, ${'9007199254740993'}::int8 as big, ${'caf\u00e9'}::text as t,
      ${true}::bool as yes, ${false}::bool as no, ${at}::timestamptz as at, ${{ a: [1, 'x'] }}::jsonb as j,
      ${bytes} as bytes, ${[1, 2, 3]}::int[] as ints, ${['a', 'b c', 'q"t']}::text[] as texts, ${null}::text as nothing`;
    expect(rows).toHaveLength(1);
    const [row] = rows;
    expect(row).toMatchObject({
      i: 7,
      // int8 stays a string in pg's type parsers: no precision lost on the way.
      big: '9007199254740993',
      t: 'caf\u00e9',
      yes: true,
      no: false,
      j: { a: [1, 'x'] },
      ints: [1, 2, 3],
      texts: ['a', 'b c', 'q"t'],
      nothing: null,
    });
    expect(Buffer.from(row!.bytes as Uint8Array).equals(bytes)).toBe(true);
    // drizzle's neon-http driver swaps the (global) timestamptz parser for the identity, so the raw
    // tag returns Postgres' text here rather than a Date.
    expect(typeof row!.at).toBe('string');
    expect(new Date(row!.at as string).getTime()).toBe(at.getTime());
  });

  it('gives full results: fields with type ids, command and rowCount', async () => {
    const result = await sql.query('select $1::int as n, $2::text as s', [1, 'x'], { fullResults: true });
    expect(result.command).toBe('SELECT');
    expect(result.rowCount).toBe(1);
    expect(result.fields.map((field) => [field.name, field.dataTypeID])).toEqual([
      ['n', 23],
      ['s', 25],
    ]);
    expect(result.rows).toEqual([{ n: 1, s: 'x' }]);

    const arrays = await sql.query('select 1 as a, 2 as b', [], { arrayMode: true });
    expect(arrays).toEqual([[1, 2]]);

    const inserted = await sql.query(
      `insert into ${schemaName}.items (label) values ('full-1'), ('full-2')`,
      [],
      { fullResults: true },
    );
    expect([inserted.command, inserted.rowCount]).toEqual(['INSERT', 2]);
  });

  it('round-trips every column type through drizzle neon-http', async () => {
    const row = {
      label: 'types-full',
      count: 2147483647,
      big: -9007199254740993n,
      flag: false,
      at: new Date('1999-12-31T23:59:59.999Z'),
      doc: { name: 'n\u00e4me \\ "q"', nested: { n: -0.25 } },
      data: Buffer.from('\\x00 not hex \u0000', 'utf8'),
      tags: ['x', 'NULL', ''],
      nums: [0, -7],
    };
    const [inserted] = await db.insert(items).values(row).returning();
    expect(inserted).toEqual({ ...row, id: expect.any(Number) });
    const [selected] = await db.select().from(items).where(eq(items.label, 'types-full'));
    expect(selected).toEqual({ ...row, id: inserted!.id });

    await db.insert(items).values({ label: 'types-null' });
    const [empty] = await db.select().from(items).where(eq(items.label, 'types-null'));
    expect(empty).toMatchObject({
      count: null,
      big: null,
      flag: null,
      at: null,
      doc: null,
      data: null,
      tags: null,
    });
  });

  it('runs db.batch as one transaction', async () => {
    const [first, second, read] = await db.batch([
      db.insert(items).values({ label: 'batch-ok-1', count: 1 }).returning({ label: items.label }),
      db.insert(items).values({ label: 'batch-ok-2', count: 2 }).returning({ label: items.label }),
      db
        .select({ label: items.label })
        .from(items)
        .where(like(items.label, 'batch-ok-%'))
        .orderBy(items.label),
    ]);
    expect(first).toEqual([{ label: 'batch-ok-1' }]);
    expect(second).toEqual([{ label: 'batch-ok-2' }]);
    expect(read).toEqual([{ label: 'batch-ok-1' }, { label: 'batch-ok-2' }]);
  });

  it('leaves nothing behind when a statement in a batch fails', async () => {
    await db.insert(items).values({ label: 'batch-taken' });
    const err = await failure(
      db.batch([
        db.insert(items).values({ label: 'batch-fail-1' }),
        db.insert(items).values({ label: 'batch-fail-2' }),
        db.insert(items).values({ label: 'batch-taken' }),
      ]),
    );
    expect(err.code).toBe('23505');
    expect(await labels('batch-fail-')).toEqual([]);
    expect(await labels('batch-taken')).toEqual(['batch-taken']);
  });

  it('surfaces Postgres errors with SQLSTATE, detail and position', async () => {
    await sql.query(`insert into ${schemaName}.items (label) values ('unique-1')`);
    const duplicate = await failure(
      sql.query(`insert into ${schemaName}.items (label) values ($1)`, ['unique-1']),
    );
    expect(duplicate.name).toBe('NeonDbError');
    expect(duplicate.code).toBe('23505');
    expect(duplicate.constraint).toBe('items_label_key');
    expect(duplicate.detail).toBe('Key (label)=(unique-1) already exists.');
    expect(duplicate.severity).toBe('ERROR');

    const missingTable = uniqueName('missing');
    const undefinedTable = await failure(sql.query(`select * from ${missingTable}`));
    expect(undefinedTable.code).toBe('42P01');
    expect(undefinedTable.message).toBe(`relation "${missingTable}" does not exist`);

    const text = 'select 1 from from';
    const syntax = await failure(sql.query(text));
    expect(syntax.code).toBe('42601');
    expect(syntax.position).toBe(String(text.lastIndexOf('from') + 1));

    // Neon runs one statement per query (extended protocol); so does the local endpoint.
    const twoStatements = await failure(sql.query('select 1; select 2'));
    expect(twoStatements.code).toBe('42601');
  });

  it('honours read-only batches: a write fails with 25006 and reads still work', async () => {
    const readOnlyWrite = await failure(
      sql.transaction([sql`insert into ${sql.unsafe(`${schemaName}.items`)} (label) values ('ro-write')`], {
        readOnly: true,
      }),
    );
    expect(readOnlyWrite.code).toBe('25006');
    expect(await labels('ro-write')).toEqual([]);

    const [settings] = await sql.transaction(
      [
        sql`select current_setting('transaction_read_only') as ro, current_setting('transaction_deferrable') as def`,
      ],
      { readOnly: true, deferrable: true, isolationLevel: 'Serializable' },
    );
    expect(settings).toEqual([{ ro: 'on', def: 'on' }]);
  });

  it('honours Neon-Batch-Isolation-Level', async () => {
    const level = (isolationLevel?: 'ReadCommitted' | 'RepeatableRead' | 'Serializable') =>
      sql.transaction(
        [sql`select current_setting('transaction_isolation') as level`],
        isolationLevel ? { isolationLevel } : {},
      );
    expect(await level('Serializable')).toEqual([[{ level: 'serializable' }]]);
    expect(await level('RepeatableRead')).toEqual([[{ level: 'repeatable read' }]]);
    expect(await level()).toEqual([[{ level: 'read committed' }]]);
  });

  it('serves Pool.query over HTTP when poolQueryViaFetch is on', async () => {
    Object.assign(neonConfig, neonLocalConfig(endpoint, { poolQueryViaFetch: true }));
    const pool = new Pool({ connectionString: endpoint.connectionString });
    try {
      const result = await pool.query('select $1::int * 2 as doubled, $2::jsonb as doc', [21, '{"k":true}']);
      expect(result.rows).toEqual([{ doubled: 42, doc: { k: true } }]);
      expect(result.rowCount).toBe(1);
    } finally {
      Object.assign(neonConfig, { poolQueryViaFetch: false });
      await pool.end();
    }
  });
});
