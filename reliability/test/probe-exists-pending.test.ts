import { defineSchema } from '@strata/core';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterEach, describe, expect, it } from 'vitest';
import { GENERATION_ERA, hardMoveRig } from '../support/hard-move.js';
import { scratchApp } from '../support/scratch-app.js';
import { shapesApp } from '../support/shapes-app.js';

// Probe (helper "breaker"): `exists` of a key whose acknowledged write-behind write L2 does not
// answer for, where `find` answers it: a pending row a hard generation move orphaned
// (probe-hard-move-pending.test.ts), or a write another live shape queued before this one
// registered (rolling-deploy-shapes.test.ts). On an L2 miss `exists` asked Postgres alone
// (cache-control.ts existsOne), which holds what was there before the write, so it said false of
// a queued insert `find` answered and true of a queued delete. Failed before the fix with
//   AssertionError: expected { b: [ false, true ], …(1) } to deeply equal { b: [ true, false ], …(1) }
// (hard move) and
//   AssertionError: expected [ false, true ] to deeply equal [ true, false ]
// (rolling deploy). Now such a key is read as `find` reads it (a full read of the key, only then).

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

describe('exists of a queued write a hard generation move orphaned', () => {
  const scratch = scratchApp('exists_hard_move');
  const { pgName, name } = scratch;
  const table = pgSchema(pgName).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
  scratch.migrate(table);

  it('answers as find does: a queued insert exists, a queued delete does not', async () => {
    const schema = defineSchema({ name: 'items', table, writeMode: 'write-behind', l1: false });
    const rig = await hardMoveRig(scratch, schema, `${name}_x`, closers);
    const { a, b } = rig;
    await a.set(schema, { id: 'gone', n: 1 });
    await a.flushDirty();
    await a.delete(schema, 'gone');
    await a.set(schema, { id: 'added', n: 7 });
    // B commits an invalidate its cut link misses; its next use moves the generation hard.
    await rig.missed({ invalidate: 'other' });
    expect([await b.find(schema, 'added'), await b.find(schema, 'gone')]).toEqual([
      { id: 'added', n: 7 },
      null,
    ]);
    expect(await rig.generation(), 'the move was hard').toBeGreaterThanOrEqual(GENERATION_ERA);
    const fresh = rig.fresh();
    const exists = async (s: typeof b) => [await s.exists(schema, 'added'), await s.exists(schema, 'gone')];
    expect({ b: await exists(b), fresh: await exists(fresh) }).toEqual({
      b: [true, false],
      fresh: [true, false],
    });
  });
});

describe('exists of a write another live shape queued', () => {
  const { scratch, v1Behind, v2Behind } = shapesApp('exists_shapes');
  const { pgName, admin } = scratch;

  it('answers as find does: a queued insert exists, a queued delete does not', async () => {
    await admin.query(`insert into "${pgName}".items (id, a) values ('gone', 1)`);
    // v1 alone: pending in v1's keys and pending index, queued; Postgres has none of it.
    const old = scratch.strata({ schemas: [v1Behind] });
    await old.set(v1Behind, { id: 'added', a: 7 });
    await old.delete(v1Behind, 'gone');
    const neu = scratch.strata({ schemas: [v2Behind] });
    expect([await neu.find(v2Behind, 'added'), await neu.find(v2Behind, 'gone')]).toEqual([
      { id: 'added', a: 7, b: null, c: null, extra: null },
      null,
    ]);
    expect([await neu.exists(v2Behind, 'added'), await neu.exists(v2Behind, 'gone')]).toEqual([true, false]);
    await old.flushDirty();
    expect([await neu.exists(v2Behind, 'added'), await neu.exists(v2Behind, 'gone')]).toEqual([true, false]);
  });
});
