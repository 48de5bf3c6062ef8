import { defineSchema, Q, type Strata } from '@strata/core';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterEach, describe, expect, it } from 'vitest';
import { GENERATION_ERA, hardMoveRig } from '../support/hard-move.js';
import { scratchApp } from '../support/scratch-app.js';

// As probe-hard-move-pending.test.ts, for an acknowledged, unflushed write-behind DELETE: A deletes
// k (pending), B commits a transaction L2 misses and moves the generation hard, which orphans A's
// pending delete (engine/orphaned-pending.ts). Postgres holds k's row (`row`), or none (`none`: A
// set k and deleted it before any flush). Every reader (B at once, a new instance, A past its
// generation refresh; no L1 anywhere) must read k as the flush will leave it, by a get, a getMany
// and a search: absent, unless the transaction set k after A's delete (its version is newer, A's
// flush is refused), then the transaction's row.

const cols = { id: text('id').primaryKey(), n: integer('n').notNull() };
const closers: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

describe("a hard generation move and another instance's pending delete", () => {
  const scratch = scratchApp('probe_hard_delete');
  const { pgName, name } = scratch;
  const table = pgSchema(pgName).table('items', cols);
  scratch.migrate(table);

  it.each([
    ['holds a row', 'row', 'none', null],
    ['holds no row', 'none', 'none', null],
    ['holds a row, and the transaction sets k after the delete', 'row', 'set', 3],
    ['holds no row, and the transaction sets k after the delete', 'none', 'set', 3],
  ] as const)(
    'Postgres %s: a get, a getMany and a search read k as the flush will leave it',
    async (_what, stored, ofK, expected) => {
      const schema = defineSchema({ name: 'items', table, writeMode: 'write-behind', l1: false });
      const rig = await hardMoveRig(scratch, schema, `${name}_${stored}_${ofK}`, closers);
      const { a, b } = rig;
      const [k, kept] = [`k-${stored}-${ofK}`, `kept-${stored}-${ofK}`];
      await a.set(schema, { id: kept, n: 5 });
      await a.set(schema, { id: k, n: 1 });
      if (stored === 'row') await a.flushDirty();
      await a.delete(schema, k); // acknowledged, pending
      expect(await scratch.n(k), 'Postgres before the flush').toBe(stored === 'row' ? 1 : undefined);

      await rig.missed({
        tx: (tx) => {
          for (let i = 0; i <= 1_000; i++) tx.set(schema, { id: `x${i}-${stored}-${ofK}`, n: i });
          if (ofK === 'set') tx.set(schema, { id: k, n: 3 });
        },
      });
      expect((await b.find(schema, `x0-${stored}-${ofK}`))?.n).toBe(0);
      expect(await rig.generation(), 'the move was hard').toBeGreaterThanOrEqual(GENERATION_ERA);

      const fresh = rig.fresh();
      const readBy = async (s: Strata) => {
        if (s === a) rig.clock.ahead = 6_000;
        const all = Q().where('id IN ($1, $2)', k, kept).orderBy('id').build();
        return {
          get: (await s.find(schema, k))?.n ?? null,
          getMany: (await s.getMany(schema, [k, kept])).map((r) => r?.n ?? null),
          search: (await s.search(schema, all)).map((r) => `${r.id}=${r.n}`),
        };
      };
      const seen = { b: await readBy(b), new: await readBy(fresh), a: await readBy(a) };
      const found = expected === null ? [`${kept}=5`] : [`${k}=${expected}`, `${kept}=5`].sort();
      const read = { get: expected, getMany: [expected, 5], search: found };
      expect(seen, "every instance reads A's delete, unless the transaction's set is newer").toEqual({
        b: read,
        new: read,
        a: read,
      });
      await a.flushDirty();
      expect(await scratch.n(k), 'the flush leaves k so').toBe(expected ?? undefined);
      expect((await fresh.find(schema, k))?.n ?? null).toBe(expected);
    },
  );
});
