import { pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema, isStrataError, Strata } from '../src/index.js';
import { createMemoryQueue, type MemoryQueue } from '../src/queue/memory-queue.js';
import { type EngineStack, engineStack } from './support/stack.js';

// A dead letter's withdrawal is recorded in Postgres before the dead letter is sent (a write
// recorded withdrawn is refused when delivered again). When the send then fails (the dead-letter
// store down), the message is delivered again: refused as withdrawn, it was acked as older, so
// `onWriteError` had been told it was given up on while no dead-letter store ever got it. Now it is
// dead-lettered at that delivery (once; onWriteError told once).

let stack: EngineStack;
const handlesTable = (schema: string) =>
  pgSchema(schema).table('handles', {
    id: text('id').primaryKey(),
    handle: text('handle').notNull().unique(),
  });
let handles: ReturnType<typeof handlesTable>;

beforeAll(async () => {
  stack = await engineStack('reg_dl_send');
  handles = handlesTable(stack.name);
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: handles })] }).migrate();
});
afterAll(() => stack?.cleanup());

/** The memory queue, whose `deadLetter` fails `failures` times (a dead-letter store down). */
function failingDeadLetter(queue: MemoryQueue, failures: number): MemoryQueue {
  let left = failures;
  return new Proxy(queue, {
    get(target, prop, receiver) {
      if (prop === 'deadLetter' && left > 0)
        return () => {
          left--;
          return Promise.reject(new Error('dead-letter store unavailable'));
        };
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

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
