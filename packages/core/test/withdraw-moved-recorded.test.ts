import { sql } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../src/drizzle/rows.js';
import { withdrawMoved } from '../src/engine/withdraw-moved.js';
import { defineSchema, Strata } from '../src/index.js';
import { createMemoryQueue } from '../src/queue/memory-queue.js';
import { type EngineStack, engineStack } from './support/stack.js';

// A write a queue platform dead-lettered by itself (a Cloudflare Queue past `max_retries`) is
// withdrawn by `withdrawMoved` as a dead letter of the flush is: its cached copies go AND the
// withdrawal is recorded in Postgres (`_strata_withdrawn`), where a Redis gone back to an older
// snapshot cannot undo it. Recorded, the same write delivered again (a dead-letter queue replayed
// into the write queue) is refused, as a flush's own dead letter is: a write given up on is written
// again, not replayed. Before, only its copies went: `withdrawn` was [] and the replay applied n 2.

let stack: EngineStack;
const itemsTable = (schema: string) =>
  pgSchema(schema).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
let items: ReturnType<typeof itemsTable>;

beforeAll(async () => {
  stack = await engineStack('withdraw_moved');
  items = itemsTable(stack.name);
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: items })] }).migrate();
});
afterAll(() => stack?.cleanup());

describe('a write the queue platform dead-lettered, withdrawn with withdrawMoved', () => {
  it('is recorded withdrawn in Postgres: read as Postgres holds it, and refused when delivered again', async () => {
    const schema = defineSchema({ table: items, writeMode: 'write-behind' });
    const queue = createMemoryQueue();
    const strata = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: stack.keyPrefix,
      writeBehind: { queue, threshold: 1_000_000 },
      schemas: [schema],
    });
    try {
      await strata.set(schema, { id: 'm1', n: 1 });
      await strata.flushDirty();
      await strata.set(schema, { id: 'm1', n: 2 });
      // The platform moves the message to its dead-letter queue: gone from the write queue.
      const [moved] = await queue.take(1);
      await queue.ack([moved!.handle]);
      expect(await withdrawMoved(strata, [moved!.write])).toEqual({
        withdrawn: [0],
        failed: [],
        skipped: [],
      });
      const recorded = rowsOf(
        await stack.db.execute(
          sql`select id, version from ${sql.identifier(stack.name)}."_strata_withdrawn" where schema = ${schema.identity}`,
        ),
      );
      expect(recorded).toEqual([{ id: 'm1', version: String(moved!.write.version) }]);
      expect((await strata.get(schema, 'm1')).n).toBe(1);
      // Replayed into the write queue: refused, Postgres keeps n 1; dead-lettered (not acked as older).
      await queue.enqueue([moved!.write]);
      await strata.flushDirty();
      const stored = rowsOf(await stack.db.execute(sql`select n from ${items} where id = 'm1'`));
      expect({
        stored,
        read: (await strata.get(schema, 'm1')).n,
        deadLetters: queue.deadLetters().map((d) => d.write.id),
      }).toEqual({ stored: [{ n: 1 }], read: 1, deadLetters: ['m1'] });
    } finally {
      await strata.close();
    }
  });
});
