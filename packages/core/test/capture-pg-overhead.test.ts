import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defineSchema, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

// What capture costs Strata's own writes: the same single-row write-through sets on two identical
// tables, one captured, in alternating blocks of one run. Printed, not asserted (a shared machine).
let stack: EngineStack;
beforeAll(async () => {
  stack = await engineStack('capture_cost');
}, 180_000);
afterAll(() => stack?.cleanup());

const SETS = 2_000;
const BLOCK = 100;

it('prints the trigger overhead on 2,000 single-row write-through sets', async () => {
  const s = pgSchema(stack.name);
  const shape = () => ({
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    n: integer('n').notNull(),
  });
  const on = defineSchema({ table: s.table('bench_on', shape()) });
  const off = defineSchema({ table: s.table('bench_off', shape()) });
  const strata = new Strata({ l3: stack.l3, schemas: [on, off] });
  await strata.migrate();
  await stack.l3.capture!.install([on]);
  const spent = { on: 0, off: 0 };
  const run = async (schema: typeof on | typeof off, key: 'on' | 'off', from: number) => {
    const start = performance.now();
    for (let i = from; i < from + BLOCK; i++) await strata.set(schema, { id: `k${i}`, name: 'x', n: i });
    spent[key] += performance.now() - start;
  };
  // Warm both (plans, connections), then alternate which goes first.
  await run(on, 'on', -BLOCK);
  await run(off, 'off', -BLOCK);
  spent.on = 0;
  spent.off = 0;
  for (let from = 0, block = 0; from < SETS; from += BLOCK, block++) {
    if (block % 2 === 0) {
      await run(on, 'on', from);
      await run(off, 'off', from);
    } else {
      await run(off, 'off', from);
      await run(on, 'on', from);
    }
  }
  console.log(
    `capture overhead: ${SETS} sets captured ${spent.on.toFixed(0)} ms (${((spent.on / SETS) * 1000).toFixed(0)} µs/set), ` +
      `uncaptured ${spent.off.toFixed(0)} ms (${((spent.off / SETS) * 1000).toFixed(0)} µs/set), ratio ${(spent.on / spent.off).toFixed(3)}`,
  );
  // Strata's own writes logged nothing.
  const { rows } = await stack.pool.query(`select count(*)::int as n from "${stack.name}"."_strata_changes"`);
  expect(rows[0].n).toBe(0);
  await strata.close();
}, 180_000);
