import { sql } from 'drizzle-orm';
import { integer, pgSchema, serial, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema } from '../src/index.js';
import type { Write } from '../src/l3/types.js';
import type { CompiledSchema } from '../src/schema/types.js';
import { DRIVERS, type EngineStack, engineStack } from './support/stack.js';

// A schema that maps fewer columns than its table has (a rolling deploy's older version, v1, beside
// v2 which added `extra`), over every driver: its replace resets `extra` to its default, and its
// whole set records in `_strata_versions.cols` only the columns it set, so v2's set refused as older
// still merges `extra`. A whole set asks the catalog in its statement; a replace uses the columns
// the L3 learnt from the catalog (drizzle/table-columns.ts), again when its table changed.

describe.each(DRIVERS)('a schema narrower than its table, over %s', (driver) => {
  let stack: EngineStack;
  const tables = (name: string) => {
    const cols = { id: text('id').primaryKey(), n: integer('n') };
    const wide = pgSchema(name).table('narrow_items', { ...cols, extra: text('extra') });
    const later = pgSchema(name).table('narrow_later', cols);
    return {
      v1: defineSchema({ table: pgSchema(name).table('narrow_items', cols) }),
      v2: defineSchema({ table: wide }),
      later: defineSchema({ table: later }),
      seqNarrow: defineSchema({ table: pgSchema(name).table('narrow_seq', cols) }),
      seqWide: defineSchema({
        table: pgSchema(name).table('narrow_seq', {
          ...cols,
          seq: serial('seq'),
          note: text('note').default('dflt'),
        }),
      }),
    };
  };
  let s: ReturnType<typeof tables>;

  beforeAll(async () => {
    stack = await engineStack(`narrow_${driver.replace('-', '_')}`, driver);
    s = tables(stack.name);
    await stack.l3.migrate([s.v2, s.later, s.seqWide]);
  });
  afterAll(() => stack?.cleanup());

  const write = async (schema: CompiledSchema, ...writes: Write[]) =>
    (await stack.l3.write([{ schema, writes }]))[0]!;
  const stored = async (table: string, id: string) => {
    const { rows } = (await stack.db.execute(
      sql.raw(`select * from "${stack.name}"."${table}" where id = '${id}'`),
    )) as unknown as { rows: Record<string, unknown>[] };
    return rows[0];
  };
  const cols = async (id: string) => {
    const { rows } = (await stack.db.execute(
      sql.raw(`select cols from "${stack.name}"."_strata_versions" where id = '${id}'`),
    )) as unknown as { rows: { cols: unknown }[] };
    return rows[0]?.cols;
  };

  it("a replace resets the column it does not map: the deleted row's value does not come back", async () => {
    await write(s.v2, { row: { id: 'r', n: 1, extra: 'v2' }, version: 10 });
    expect((await write(s.v1, { row: { id: 'r', n: 2 }, version: 20, replace: true }))[0]!.applied).toBe(
      true,
    );
    expect(await stored('narrow_items', 'r')).toEqual({ id: 'r', n: 2, extra: null });
  });

  it("a whole set records only its columns: the wider schema's refused set merges its column", async () => {
    await write(s.v2, { row: { id: 'w', n: 1, extra: 'e1' }, version: 10 });
    // The wider schema's whole set records nothing by name (as before).
    expect(await cols('w')).toBeNull();
    await write(s.v1, { row: { id: 'w', n: 3 }, version: 30 });
    const refused = { row: { id: 'w', n: 2, extra: 'new' }, version: 20 };
    expect((await write(s.v2, refused))[0]!.applied).toBe(false);
    const [merged] = (await stack.l3.mergeRefused!([{ schema: s.v2, writes: [refused] }]))[0]!;
    expect(merged).toMatchObject({ applied: true, version: 30, row: { id: 'w', n: 3, extra: 'new' } });
    expect(await stored('narrow_items', 'w')).toEqual({ id: 'w', n: 3, extra: 'new' });
  });

  it('a refused delete resets the column it does not map, where no later write set it', async () => {
    await write(s.v2, { row: { id: 'd', n: 1, extra: 'e1' }, version: 10 });
    await write(s.v2, { row: { id: 'd', n: 5 }, version: 30 }); // a partial set: `extra` left out
    const refused = { id: 'd', version: 20 };
    expect((await write(s.v1, refused))[0]!.applied).toBe(false);
    await stack.l3.mergeRefused!([{ schema: s.v1, writes: [refused] }]);
    // The delete, then the set: `extra` is the new row's default, `n` the set's.
    expect(await stored('narrow_items', 'd')).toEqual({ id: 'd', n: 5, extra: null });
    expect(await cols('d')).toMatchObject({ n: 30, extra: 20 });
  });

  it('a refused delete keeps an unmapped serial column (a reset would renumber the row) and resets the rest', async () => {
    await write(s.seqWide, { row: { id: 'q', n: 1, note: 'set' }, version: 10 });
    const before = (await stored('narrow_seq', 'q'))!.seq;
    await write(s.seqWide, { row: { id: 'q', n: 5 }, version: 30 });
    const refused = { id: 'q', version: 20 };
    expect((await write(s.seqNarrow, refused))[0]!.applied).toBe(false);
    await stack.l3.mergeRefused!([{ schema: s.seqNarrow, writes: [refused] }]);
    expect(await stored('narrow_seq', 'q')).toEqual({ id: 'q', n: 5, seq: before, note: 'dflt' });
  });

  it('a column added after the L3 learnt its table: a replace learns it again and resets it', async () => {
    await write(s.later, { row: { id: 'x', n: 1 }, version: 10 });
    await stack.db.execute(sql.raw(`alter table "${stack.name}"."narrow_later" add column extra text`));
    await stack.db.execute(
      sql.raw(`update "${stack.name}"."narrow_later" set extra = 'other' where id = 'x'`),
    );
    await write(s.later, { row: { id: 'x', n: 2 }, version: 20 });
    await write(s.later, { row: { id: 'x', n: 3 }, version: 30, replace: true });
    expect(await stored('narrow_later', 'x')).toEqual({ id: 'x', n: 3, extra: null });
  });
});
