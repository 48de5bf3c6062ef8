import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../src/drizzle/rows.js';
import { defineSchema, isStrataError, Strata } from '../src/index.js';
import { createMemoryQueue } from '../src/queue/memory-queue.js';
import { failingDeadLetter, handlesTable } from './support/dead-letter-handles.js';
import { warningLogger } from './support/logs.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { wrapL3 } from './support/wrap.js';

// A dead letter records its withdrawal in Postgres (`_strata_withdrawn`), where a Redis gone back to
// an older snapshot cannot undo it (reliability/test/probe-restore-dead-letter.test.ts). When
// Postgres does not take that record, the withdrawal must not be lost silently: the dead letter
// waits for it (held, counted and logged, delivered again), as it waits for L2 to drop its copy.
// Recorded before the dead letter is sent, it must not be lost when the send then fails: delivered
// again, refused as withdrawn, it was acked as older (`onWriteError` told, no dead-letter store got
// it); it is dead-lettered at that delivery (once; onWriteError told once).

let stack: EngineStack;
let handles: ReturnType<typeof handlesTable>;

beforeAll(async () => {
  stack = await engineStack('reg_dl_withdraw');
  handles = handlesTable(stack.name);
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: handles })] }).migrate();
});
afterAll(() => stack?.cleanup());

describe('a dead letter whose withdrawal Postgres does not take', () => {
  it('is held (flushDirty: L3_UNAVAILABLE), then dead-lettered once Postgres records it', async () => {
    const errors: unknown[] = [];
    const { logger, warnings: warned } = warningLogger();
    const schema = defineSchema({
      table: handles,
      writeMode: 'write-behind',
      hooks: { onWriteError: (_id, err) => void errors.push(err) },
    });
    let refuse = true;
    const l3 = wrapL3(stack.l3, {
      withdraw: (s, writes) =>
        refuse ? Promise.reject(new Error('Postgres went away')) : stack.l3.withdraw!(s, writes),
    });
    const queue = createMemoryQueue();
    const strata = new Strata({
      l2: stack.l2,
      l3,
      keyPrefix: stack.keyPrefix,
      writeBehind: { queue, maxRetry: 1 },
      schemas: [schema],
      logger,
    });
    try {
      await strata.set(schema, { id: 'first', handle: 'taken' });
      await strata.flushDirty();
      // The unique handle refuses it for good: dead-lettered at its first failure.
      await strata.set(schema, { id: 'second', handle: 'taken' });
      const held = await strata.flushDirty().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect({
        held: isStrataError(held, 'L3_UNAVAILABLE'),
        deadLetters: queue.deadLetters().length,
        queued: await queue.pending(),
        errors: errors.length,
      }).toEqual({ held: true, deadLetters: 0, queued: 1, errors: 0 });
      // Counted and logged, not swallowed.
      expect(strata.stats().errorsBy.l3).toBeGreaterThan(0);
      expect(warned.filter((m) => m.includes('withdraw')).length).toBeGreaterThan(0);
      refuse = false;
      await strata.flushDirty();
      const withdrawn = rowsOf(
        await stack.db.execute(
          sql`select id from ${sql.identifier(stack.name)}."_strata_withdrawn" where schema = ${schema.identity}`,
        ),
      );
      expect({
        deadLetters: queue.deadLetters().map((d) => d.write.id),
        queued: await queue.pending(),
        errors: errors.map((e) => isStrataError(e, 'WRITE_BEHIND_MAX_RETRY')),
        withdrawn,
        read: (await strata.get(schema, 'second').catch((e: unknown) => e)) as unknown,
      }).toEqual({
        deadLetters: ['second'],
        queued: 0,
        errors: [true],
        withdrawn: [{ id: 'second' }],
        read: expect.objectContaining({ code: 'NOT_FOUND' }),
      });
    } finally {
      await strata.close();
    }
  });
});

describe('a dead letter whose dead-letter send fails once', () => {
  it('is dead-lettered at its next delivery, not acked as withdrawn', async () => {
    const errors: unknown[] = [];
    const schema = defineSchema({
      table: handles,
      writeMode: 'write-behind',
      hooks: { onWriteError: (_id, err) => void errors.push(err) },
    });
    const queue = createMemoryQueue();
    const strata = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: stack.keyPrefix,
      writeBehind: { queue: failingDeadLetter(queue, 1), maxRetry: 1 },
      schemas: [schema],
    });
    try {
      await strata.set(schema, { id: 'first', handle: 'taken' });
      await strata.flushDirty();
      // The unique handle refuses it for good: given up on at its first failure.
      await strata.set(schema, { id: 'second', handle: 'taken' });
      const failed = await strata.flushDirty().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(String(failed)).toContain('dead-letter store unavailable');
      expect({ deadLetters: queue.deadLetters().length, queued: await queue.pending() }).toEqual({
        deadLetters: 0,
        queued: 1,
      });
      await strata.flushDirty();
      expect({
        deadLetters: queue.deadLetters().map((d) => [d.write.id, d.reason]),
        queued: await queue.pending(),
        errors: errors.map((e) => isStrataError(e, 'WRITE_BEHIND_MAX_RETRY')),
        read: (await strata.get(schema, 'second').catch((e: unknown) => e)) as unknown,
        deadLettered: strata.stats().deadLettered,
      }).toEqual({
        deadLetters: [['second', expect.stringContaining('withdrawn')]],
        queued: 0,
        errors: [true],
        read: expect.objectContaining({ code: 'NOT_FOUND' }),
        deadLettered: 1,
      });
      // Delivered once more (a replay): dead-lettered again, never applied.
      await queue.enqueue([queue.deadLetters()[0]!.write]);
      await strata.flushDirty();
      expect(queue.deadLetters().map((d) => d.write.id)).toEqual(['second', 'second']);
      expect(errors).toHaveLength(1);
    } finally {
      await strata.close();
    }
  });
});
