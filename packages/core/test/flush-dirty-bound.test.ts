import { inArray } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defineSchema, Strata, type WriteQueue } from '../src/index.js';
import { createMemoryQueue } from '../src/queue/memory-queue.js';
import { steadyWriter, takesAfterEachWrite } from '../testing/steady-writer.js';
import { type EngineStack, engineStack } from './support/stack.js';

// flushDirty() promises the writes acknowledged before the call, not a queue that is ever empty:
// another instance of the app writing all the time must not keep it running (a deploy step or a
// cron /api/flush under load used to hang until the writes stopped). Memory queue shared by two
// instances in one process, real Postgres and L2.

let stack: EngineStack;
let schema: ReturnType<typeof behindSchema>;
const behindSchema = () => defineSchema({ table: stack.tables.players, writeMode: 'write-behind' });
const opened: Strata[] = [];

beforeAll(async () => {
  stack = await engineStack('drain_bound');
  schema = behindSchema();
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
});
afterAll(async () => {
  for (const strata of opened.reverse()) await strata.close();
  await stack?.cleanup();
});

const open = (queue: WriteQueue) => {
  const strata = new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    schemas: [schema],
    // No threshold flush: only flushDirty applies writes here.
    writeBehind: { queue, threshold: 1_000_000 },
  });
  opened.push(strata);
  return strata;
};

it('returns once the writes acknowledged before the call are in Postgres, while another instance keeps writing', async () => {
  const queue = createMemoryQueue();
  const writer = open(queue);
  const writing = steadyWriter((id) => writer.set(schema, { id, username: id, level: 1 }));
  // Every round of this instance finds a write newer than the last: the writer never lets up.
  const strata = open(takesAfterEachWrite(queue, writing));
  await writing.started;
  const early = ['early1', 'early2', 'early3'];
  for (const id of early) await strata.set(schema, { id, username: id, level: 2 });
  const before = [...early, ...writing.acked];
  const first = await Promise.race([
    strata.flushDirty().then(() => 'flushDirty' as const),
    writing.done.then(() => 'writer stopped' as const),
  ]);
  // Without the bound every round takes something of the app: flushDirty runs until the writer stops.
  expect(first).toBe('flushDirty');
  const rows = await stack.db
    .select({ id: stack.tables.players.id })
    .from(stack.tables.players)
    .where(inArray(stack.tables.players.id, before));
  expect(rows.map((row) => row.id).sort()).toEqual([...before].sort());
  writing.stop();
  await writing.done;
  // What came after the call is left to later rounds, which still apply it.
  await strata.flushDirty();
  expect(await queue.pending()).toBe(0);
});
