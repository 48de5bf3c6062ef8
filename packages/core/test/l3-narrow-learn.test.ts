import { sql } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changeCapture, createDrizzleL3 } from '../src/drizzle/index.js';
import { defineSchema } from '../src/index.js';
import type { L3Tier, Write, WriteOp } from '../src/l3/types.js';
import type { CompiledSchema } from '../src/schema/types.js';
import { DRIVERS, type EngineStack, engineStack } from './support/stack.js';

// A rolling deploy's older shape (v1, narrower) written by an L3 that has NOT learnt its table (no
// migrate(), no earlier set of it: a write-through instance's first write), or learnt it before
// another deploy added a column, beside the newer shape (v2, `extra`) written by another instance's
// L3. v1's whole set must not be recorded in `_strata_versions.cols` as setting `extra` (v2's set
// refused as older then merges `extra`), its replace must reset `extra`, and must leave generated
// and identity columns to Postgres. Each test has its own table: the L3 under test learns nothing
// from the others. See drizzle/table-columns.ts.

describe.each(DRIVERS)('a narrower schema the L3 has not learnt (yet), over %s', (driver) => {
  let stack: EngineStack;
  /** Another instance (v2), with its own L3 (node-postgres). */
  let other: L3Tier;
  const shapes = (table: string) => {
    const cols = { id: text('id').primaryKey(), n: integer('n') };
    return {
      v1: defineSchema({ table: pgSchema(stack.name).table(table, cols) }),
      v2: defineSchema({ table: pgSchema(stack.name).table(table, { ...cols, extra: text('extra') }) }),
    };
  };

  beforeAll(async () => {
    stack = await engineStack(`shapes2_learn_${driver.replace('-', '_')}`, driver);
    other = createDrizzleL3(stack.db, { migrationsSchema: stack.name, capture: changeCapture });
  });
  afterAll(() => stack?.cleanup());

  const write = async (l3: L3Tier, schema: CompiledSchema, ...writes: Write[]) =>
    (await l3.write([{ schema, writes }]))[0]!;
  const run = (statement: string) => stack.db.execute(sql.raw(statement));
  const stored = async (table: string, id: string) => {
    const { rows } = (await run(
      `select * from "${stack.name}"."${table}" where id = '${id}'`,
    )) as unknown as {
      rows: Record<string, unknown>[];
    };
    return rows[0];
  };
  /** v2's set at version 20, refused (v1 wrote 30), then merged: `extra` was last set at 10. */
  const refusedThenMerged = async (v2: CompiledSchema) => {
    const refused = { row: { id: 'k', n: 2, extra: 'new' }, version: 20 };
    expect((await write(other, v2, refused))[0]!.applied).toBe(false);
    return (await other.mergeRefused!([{ schema: v2, writes: [refused] }]))[0]![0];
  };

  it("a write-through whole set, the table's first write here, records only its columns", async () => {
    const { v1, v2 } = shapes('learn_through');
    await other.migrate([v2]);
    await write(other, v2, { row: { id: 'k', n: 1, extra: 'e1' }, version: 10 });
    stack.reset();
    expect((await write(stack.l3, v1, { row: { id: 'k', n: 5 }, floor: 30 }))[0]).toMatchObject({
      applied: true,
      version: 30,
    });
    // No catalog read of its own: the set's statement knows.
    expect(stack.statements.filter((s) => s.includes('pg_attribute') && !s.includes('insert'))).toEqual([]);
    expect(await refusedThenMerged(v2)).toMatchObject({ applied: true, row: { n: 5, extra: 'new' } });
    expect(await stored('learn_through', 'k')).toEqual({ id: 'k', n: 5, extra: 'new' });
  });

  it("a transaction's whole set, the table's first write here, records only its columns", async () => {
    const { v1, v2 } = shapes('learn_tx');
    await other.migrate([v2]);
    await write(other, v2, { row: { id: 'k', n: 1, extra: 'e1' }, version: 10 });
    // A whole set, a partial one and a delete: three groups, so the call is a transaction (versions
    // first, then rows).
    const ops: WriteOp[] = [
      {
        schema: v1,
        writes: [{ row: { id: 'k', n: 5 }, floor: 30 }, { row: { id: 'p' }, floor: 30 }, { id: 'gone' }],
      },
    ];
    expect((await stack.l3.write(ops))[0]![0]).toMatchObject({ applied: true, version: 30 });
    expect(await refusedThenMerged(v2)).toMatchObject({ applied: true, row: { n: 5, extra: 'new' } });
  });

  it('the first set after another deploy added a column records only its columns', async () => {
    const { v1, v2 } = shapes('learn_added');
    await stack.l3.migrate([v1]);
    await run(`alter table "${stack.name}"."learn_added" add column extra text`);
    await write(other, v2, { row: { id: 'k', n: 1, extra: 'e1' }, version: 10 });
    expect((await write(stack.l3, v1, { row: { id: 'k', n: 5 }, version: 30 }))[0]!.applied).toBe(true);
    expect(await refusedThenMerged(v2)).toMatchObject({ applied: true, row: { n: 5, extra: 'new' } });
  });

  it('the first replace after another deploy added a column resets it', async () => {
    const { v1, v2 } = shapes('learn_added_replace');
    await stack.l3.migrate([v1]);
    await write(stack.l3, v1, { row: { id: 'k', n: 1 }, version: 5 });
    await run(`alter table "${stack.name}"."learn_added_replace" add column extra text`);
    await write(other, v2, { row: { id: 'k', n: 1, extra: 'e1' }, version: 10 });
    stack.reset();
    // With a delete: a transaction, which the failed replace rolls back whole.
    await write(
      stack.l3,
      v1,
      { row: { id: 'k', n: 5 }, version: 30, replace: true },
      { id: 'j', version: 30 },
    );
    expect(await stored('learn_added_replace', 'k')).toEqual({ id: 'k', n: 5, extra: null });
    // The replace found `extra` unknown, failed, learnt the table again (one catalog read), ran again.
    expect(stack.statements.filter((s) => s.startsWith('select (select json_agg'))).toHaveLength(1);
  });

  it("a refused delete's merge after another deploy added a column resets it", async () => {
    const { v1, v2 } = shapes('learn_added_merge');
    // Learnt by v1 (migrate) before `extra` existed.
    await stack.l3.migrate([v1]);
    await run(`alter table "${stack.name}"."learn_added_merge" add column extra text`);
    await write(other, v2, { row: { id: 'k', n: 1, extra: 'e1' }, version: 10 });
    // A later partial set (v2's), leaving `extra` as the write at 10 set it.
    await write(other, v2, { row: { id: 'k', n: 5 }, version: 30 });
    stack.reset();
    // v1's delete between them, refused as older, then merged: `extra`, last set at 10, goes too.
    const refused = { id: 'k', version: 20 };
    expect((await write(stack.l3, v1, refused))[0]!.applied).toBe(false);
    await stack.l3.mergeRefused!([{ schema: v1, writes: [refused] }]);
    expect(await stored('learn_added_merge', 'k')).toEqual({ id: 'k', n: 5, extra: null });
    // The merge found `extra` unknown, failed, learnt the table again (one catalog read), ran again.
    expect(stack.statements.filter((s) => s.startsWith('select (select json_agg'))).toHaveLength(1);
  });

  it('the first replace after another deploy dropped a learnt column learns again and runs', async () => {
    const { v1 } = shapes('learn_dropped');
    await stack.l3.migrate([v1]);
    await run(`alter table "${stack.name}"."learn_dropped" add column extra text default 'd'`);
    // Learnt with `extra`: this replace resets it.
    await write(stack.l3, v1, { row: { id: 'k', n: 1 }, version: 5, replace: true });
    expect(await stored('learn_dropped', 'k')).toEqual({ id: 'k', n: 1, extra: 'd' });
    await run(`alter table "${stack.name}"."learn_dropped" drop column extra`);
    stack.reset();
    // Alone (one statement), then with a delete (a transaction).
    expect(
      (await write(stack.l3, v1, { row: { id: 'k', n: 2 }, version: 10, replace: true }))[0],
    ).toMatchObject({ applied: true, version: 10 });
    expect(await stored('learn_dropped', 'k')).toEqual({ id: 'k', n: 2 });
    // It failed on the dropped column (42703), learnt the table again (one catalog read), ran again.
    expect(stack.statements.filter((s) => s.startsWith('select (select json_agg'))).toHaveLength(1);
    await run(`alter table "${stack.name}"."learn_dropped" add column extra2 text`);
    await write(stack.l3, v1, { row: { id: 'k', n: 3 }, version: 20, replace: true });
    await run(`alter table "${stack.name}"."learn_dropped" drop column extra2`);
    await write(
      stack.l3,
      v1,
      { row: { id: 'k', n: 4 }, version: 30, replace: true },
      { id: 'j', version: 30 },
    );
    expect(await stored('learn_dropped', 'k')).toEqual({ id: 'k', n: 4 });
  });

  it('a replace leaves generated and identity columns to Postgres, one added later too', async () => {
    const { v1 } = shapes('learn_computed');
    await run(`create schema if not exists "${stack.name}"`);
    await run(`create table "${stack.name}"."learn_computed" (id text primary key, n integer, extra text,
      twice integer generated always as (n * 2) stored, seq integer generated always as identity)`);
    // The first write here is a write-through set (which reads no catalog), then a replace (which does).
    await write(stack.l3, v1, { row: { id: 'k', n: 1 }, floor: 10 });
    await run(`update "${stack.name}"."learn_computed" set extra = 'e1'`);
    await write(stack.l3, v1, { row: { id: 'k', n: 5 }, floor: 20, replace: true });
    expect(await stored('learn_computed', 'k')).toEqual({ id: 'k', n: 5, extra: null, twice: 10, seq: 1 });
    // Another deploy adds an identity column (the row takes 1): a replace learns it is one, keeps it.
    await run(
      `alter table "${stack.name}"."learn_computed" add column seq2 integer generated by default as identity`,
    );
    await write(stack.l3, v1, { row: { id: 'k', n: 6 }, floor: 30, replace: true });
    expect(await stored('learn_computed', 'k')).toMatchObject({ n: 6, twice: 12, seq: 1, seq2: 1 });
  });
});
