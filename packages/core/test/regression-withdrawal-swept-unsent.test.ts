import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../src/drizzle/rows.js';
import { defineSchema, isStrataError, Strata } from '../src/index.js';
import { createMemoryQueue } from '../src/queue/memory-queue.js';
import { failingDeadLetter, handlesTable } from './support/dead-letter-handles.js';
import { type EngineStack, engineStack } from './support/stack.js';

// A write given up on is recorded withdrawn before its dead letter is sent; when the send fails, its
// message is delivered again and dead-lettered then (regression-dead-letter-withdraw.test.ts). But
// another dead letter's cleanup deleted every withdrawal Postgres' versions had reached: once a
// later write of the key landed (another instance's queue), a dead letter of the table near that
// key deleted the withdrawal, and the redelivery was refused as older and acked: `onWriteError`
// told, no dead-letter store got it. A withdrawal is now cleaned up only once its dead letter is
// known sent.

let stack: EngineStack;
let handles: ReturnType<typeof handlesTable>;

beforeAll(async () => {
  stack = await engineStack('reg_wd_unsent');
  handles = handlesTable(stack.name);
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: handles })] }).migrate();
});
afterAll(() => stack?.cleanup());

const withdrawals = async (identity: string) =>
  rowsOf(
    await stack.db.execute(
      sql`select id, sent from ${sql.identifier(stack.name)}."_strata_withdrawn" where schema = ${identity} order by id`,
    ),
  );

describe('a withdrawal whose dead letter was not sent yet', () => {
  it('survives another dead letter’s cleanup: its redelivery is dead-lettered, not acked', async () => {
    const errors: unknown[] = [];
    const schema = defineSchema({
      table: handles,
      writeMode: 'write-behind',
      hooks: { onWriteError: (_id, err) => void errors.push(err) },
    });
    const queueA = createMemoryQueue();
    const queueB = createMemoryQueue();
    const tiers = { l2: stack.l2, l3: stack.l3, keyPrefix: stack.keyPrefix, schemas: [schema] };
    const a = new Strata({ ...tiers, writeBehind: { queue: failingDeadLetter(queueA, 1), maxRetry: 1 } });
    // Another instance of the app, flushing its own queue.
    const b = new Strata({ ...tiers, writeBehind: { queue: queueB, maxRetry: 1 } });
    try {
      await a.set(schema, { id: 'k1', handle: 'taken' });
      await a.flushDirty();
      // Given up on (the unique handle), recorded withdrawn; its dead letter's send fails.
      await a.set(schema, { id: 'k2', handle: 'taken' });
      const failed = await a.flushDirty().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(String(failed)).toContain('dead-letter store unavailable');
      expect(await queueA.pending()).toBe(1);
      // A later write of k2 lands through B, then B dead-letters k3: its cleanup looks at k2.
      await b.set(schema, { id: 'k2', handle: 'free' });
      await b.flushDirty();
      await b.set(schema, { id: 'k3', handle: 'taken' });
      await b.flushDirty();
      expect(queueB.deadLetters().map((d) => d.write.id)).toEqual(['k3']);
      await a.flushDirty();
      expect({
        deadLetters: queueA.deadLetters().map((d) => [d.write.id, d.reason]),
        queued: await queueA.pending(),
        errors: errors.map((e) => isStrataError(e, 'WRITE_BEHIND_MAX_RETRY')),
        read: await a.get(schema, 'k2'),
      }).toEqual({
        deadLetters: [['k2', expect.stringContaining('withdrawn')]],
        queued: 0,
        errors: [true, true],
        read: { id: 'k2', handle: 'free' },
      });
      // Sent now: the next dead letter near it cleans it up (Postgres' versions reached it); k3's
      // stays (never written again: a Redis rollback could bring its pending row back).
      expect(await withdrawals(schema.identity)).toEqual([
        { id: 'k2', sent: true },
        { id: 'k3', sent: true },
      ]);
      await b.set(schema, { id: 'k4', handle: 'taken' });
      await b.flushDirty();
      expect(await withdrawals(schema.identity)).toEqual([
        { id: 'k3', sent: true },
        { id: 'k4', sent: true },
      ]);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
