import pg from 'pg';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { serviceUrls, uniqueName } from '../src/defaults.js';
import { dropScratchSchema, type Queryable } from '../src/scratch-schema.js';

// The cleanup of a fault suite deadlocked on CI: a backend whose client a proxy had cut still ran its
// transaction (it held one table of the scratch schema and then asked for another) while DROP SCHEMA
// held the second and waited for the first. These tests replay that with two real sessions.

const pool = new pg.Pool({ connectionString: serviceUrls().databaseUrl, max: 4 });
const made: string[] = [];
let schema: string;

beforeEach(async () => {
  schema = uniqueName('scratch_schema');
  made.push(schema);
  // t1 first: the lower OID, which DROP SCHEMA locks first (as in CI's deadlock report).
  await pool.query(
    `create schema "${schema}"; create table "${schema}".t1 (id int); create table "${schema}".t2 (id int)`,
  );
});

afterAll(async () => {
  for (const name of made) await pool.query(`drop schema if exists "${name}" cascade`);
  await pool.end();
});

/** A session in a transaction that holds t2 (as the cut connection's backend did). */
async function holderOfT2(): Promise<pg.PoolClient> {
  const holder = await pool.connect();
  await holder.query(`begin; select * from "${schema}".t2`);
  return holder;
}

async function schemaExists(): Promise<boolean> {
  const { rowCount } = await pool.query('select 1 from pg_namespace where nspname = $1', [schema]);
  return rowCount === 1;
}

/** Resolves once some session waits for a lock in this database running `text`. */
async function waitingOnLock(text: string): Promise<void> {
  for (;;) {
    const { rowCount } = await pool.query(
      `select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like $1`,
      [`%${text}%`],
    );
    if (rowCount) return;
  }
}

describe('dropScratchSchema', () => {
  it('(the failure it avoids) a plain DROP SCHEMA next to such a session deadlocks', async () => {
    const holder = await holderOfT2();
    const drop = pool.query(`drop schema "${schema}" cascade`);
    await waitingOnLock(`drop schema "${schema}"`);
    const holderRead = holder.query(`select * from "${schema}".t1`);
    const outcomes = await Promise.allSettled([drop, holderRead]);
    const codes = outcomes.map((o) =>
      o.status === 'rejected' ? (o.reason as { code?: string }).code : 'ok',
    );
    expect(codes).toContain('40P01');
    await holder.query('rollback');
    holder.release();
  });

  it('waits for the other session to end, then drops the schema', async () => {
    const holder = await holderOfT2();
    const polls: string[] = [];
    const counted: Queryable = {
      query: (text, values) => {
        polls.push(text);
        return pool.query(text, values);
      },
    };
    const drop = dropScratchSchema(counted, schema);
    // It has looked at the locks twice and dropped nothing: the holder can take t1 as its
    // transaction goes on (with the plain drop above, this read deadlocks).
    while (polls.filter((t) => t.includes('pg_locks')).length < 2) await pool.query('select 1');
    expect(polls.some((t) => t.includes('drop schema'))).toBe(false);
    await holder.query(`select * from "${schema}".t1`);
    await holder.query('commit');
    holder.release();
    await drop;
    expect(await schemaExists()).toBe(false);
  });

  it('drops at once when no other session holds a lock in the schema', async () => {
    await dropScratchSchema(pool, schema);
    expect(await schemaExists()).toBe(false);
  });

  it('gives up with the lock timeout (55P03) past waitMs, and the schema stays', async () => {
    const holder = await holderOfT2();
    const error = await dropScratchSchema(pool, schema, { waitMs: 200 }).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('55P03');
    expect(await schemaExists()).toBe(true);
    await holder.query('rollback');
    holder.release();
  });
});
