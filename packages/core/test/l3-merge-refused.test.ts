import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema, Strata } from '../src/index.js';
import type { Write } from '../src/l3/types.js';
import { DRIVERS, type EngineStack, engineStack } from './support/stack.js';

// `L3Tier.mergeRefused` over every driver: a Redis-ordered set `write` refused as older applies the
// columns it set that no write of a higher version set since (`_strata_versions.cols`), leaving the
// key's version as it is; a later whole row or delete leaves it nothing; a second merge of the same
// write changes nothing; a refused delete resets the columns no later write set to their defaults. A
// versions table made before `cols` gains it at the first write.

describe.each(DRIVERS)('mergeRefused over %s', (driver) => {
  let stack: EngineStack;
  let schema: ReturnType<typeof defineSchema<EngineStack['tables']['players']>>;

  beforeAll(async () => {
    stack = await engineStack(`merge_refused_${driver.replace('-', '_')}`, driver);
    schema = defineSchema({ table: stack.tables.players });
    await new Strata({ l3: stack.l3, schemas: [schema] }).migrate();
  });
  afterAll(() => stack?.cleanup());

  // Partial rows: `username` (not null, no default) goes with each.
  const row = (id: string, more: { notes?: string; score?: number }) =>
    ({ id, username: id, ...more }) as never;
  const write = async (...writes: Write[]) => (await stack.l3.write([{ schema, writes }]))[0]!;
  const merge = async (...writes: Write[]) => (await stack.l3.mergeRefused!([{ schema, writes }]))[0]!;
  const stored = async (id: string) => {
    const [found] = await stack.l3.findMany(schema, [id]);
    return found && { notes: found.row.notes, score: found.row.score, version: found.version };
  };

  it('a versions table made before `cols` gains it at the first write', async () => {
    await stack.db.execute(
      sql.raw(`alter table "${stack.name}"."_strata_versions" drop column if exists cols`),
    );
    expect((await write({ row: row('z', { notes: 'z' }), version: 5 }))[0]!.applied).toBe(true);
    expect(await stored('z')).toEqual({ notes: 'z', score: null, version: 5 });
  });

  it('applies the columns no later write set, once', async () => {
    await write({ row: row('a', { notes: 'n1', score: 1 }), version: 20 });
    await write({ row: row('a', { score: 4 }), version: 40 });
    const refused = { row: row('a', { notes: 'n3', score: 3 }), version: 30 };
    expect((await write(refused))[0]!.applied).toBe(false);
    const [merged] = await merge(refused);
    expect(merged).toMatchObject({ applied: true, version: 40, row: { notes: 'n3', score: 4 } });
    expect(await stored('a')).toEqual({ notes: 'n3', score: 4, version: 40 });
    // Again (a redelivery), and an older write of the column merged since: nothing changes.
    expect((await merge(refused))[0]!.applied).toBe(false);
    expect((await merge({ row: row('a', { notes: 'n2' }), version: 25 }))[0]!.applied).toBe(false);
    // Every column it set was set later: nothing.
    expect((await merge({ row: row('a', { score: 5 }), version: 35 }))[0]!.applied).toBe(false);
    expect(await stored('a')).toEqual({ notes: 'n3', score: 4, version: 40 });
  });

  it('a later whole row or delete leaves it nothing; over a row written outside Strata it applies', async () => {
    await write({ row: row('b', {}), version: 50, replace: true });
    expect((await merge({ row: row('b', { notes: 'old' }), version: 45 }))[0]!.applied).toBe(false);
    await write({ row: row('c', { notes: 'c1' }), version: 10 });
    await write({ id: 'c', version: 60 });
    expect((await merge({ row: row('c', { notes: 'c0' }), version: 55 }))[0]!.applied).toBe(false);
    expect(await stored('c')).toBeUndefined();
    // A row with no version row, then a partial set: the columns it left out were set before any version.
    await stack.db.execute(sql.raw(`insert into "${stack.name}".players (id, username) values ('d', 'd')`));
    await write({ row: row('d', { score: 8 }), version: 80 });
    const [merged] = await merge({ row: row('d', { notes: 'old', score: 7 }), version: 70 });
    expect(merged?.applied).toBe(true);
    expect(await stored('d')).toEqual({ notes: 'old', score: 8, version: 80 });
  });

  it('a refused delete resets the columns no later write set to their defaults, once', async () => {
    await write({ row: row('rd', { notes: 'n1', score: 1, level: 5 } as never), version: 10 });
    await write({ row: row('rd', { score: 4 }), version: 30 });
    const refused: Write = { id: 'rd', version: 20 };
    expect((await write(refused))[0]!.applied).toBe(false);
    const [merged] = await merge(refused);
    expect(merged).toMatchObject({ applied: true, version: 30, row: { notes: null, score: 4, level: 1 } });
    expect((await stack.l3.findMany(schema, ['rd']))[0]!.row).toMatchObject({ username: 'rd', level: 1 });
    expect(await stored('rd')).toEqual({ notes: null, score: 4, version: 30 });
    // Again: nothing. A set that replaced its row: its columns, and the others' defaults.
    expect((await merge(refused))[0]!.applied).toBe(false);
    await write({ row: row('re', { notes: 'n1', score: 1 }), version: 10 });
    await write({ row: row('re', { score: 4 }), version: 30 });
    const [replaced] = await merge({ row: row('re', { level: 7 } as never), version: 20, replace: true });
    expect(replaced!.applied).toBe(true);
    expect((await stack.l3.findMany(schema, ['re']))[0]!.row).toMatchObject({
      notes: null,
      score: 4,
      level: 7,
    });
    // A later whole row, or a later delete: nothing.
    await write({ row: row('rf', { notes: 'rf' }), version: 30, replace: true });
    expect((await merge({ id: 'rf', version: 20 }))[0]!.applied).toBe(false);
    await write({ id: 'rf', version: 40 });
    expect((await merge({ id: 'rf', version: 35 }))[0]!.applied).toBe(false);
    expect(await stack.l3.findMany(schema, ['rf'])).toEqual([]);
  });

  it('merges several keys and shapes in one call, each by its own version row', async () => {
    for (const id of ['e', 'f', 'g']) await write({ row: row(id, { score: 9 }), version: 90 });
    const outcomes = await merge(
      { row: row('e', { notes: 'e', score: 1 }), version: 85 },
      { row: row('f', { notes: 'f', score: 1 }), version: 95 }, // newer than the key: not refused, nothing
      { row: row('g', { notes: 'g' }), version: 85 },
    );
    expect(outcomes.map((o) => o.applied)).toEqual([true, false, true]);
    expect(await stored('e')).toEqual({ notes: 'e', score: 9, version: 90 });
    expect(await stored('f')).toEqual({ notes: null, score: 9, version: 90 });
    expect(await stored('g')).toEqual({ notes: 'g', score: 9, version: 90 });
  });
});
