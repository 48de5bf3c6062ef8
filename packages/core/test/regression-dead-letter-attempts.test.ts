import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema, isStrataError, type Logger, Strata } from '../src/index.js';
import { createMemoryQueue } from '../src/queue/memory-queue.js';
import { type EngineStack, engineStack } from './support/stack.js';

// Helper "retry": a dead letter's `attempts` said one try less than were made. With
// writeBehind.maxRetry 3 a write Postgres refused 3 times was dead-lettered with attempts: 2 (the
// queue recorded its deliveries *before* the last), while the error said "after 3 attempts" and a
// Worker's log of the message said 2 of 2. Now `attempts` is the tries made, the last one counted,
// everywhere: the dead letter of every queue, WRITE_BEHIND_MAX_RETRY's details, the log line.
// Before the fix this test failed with:
//   the dead letter: expected [ { handle: '1', …(3) } ] to match object [ { write: { id: 'bad' }, …(1) } ]
//   -     "attempts": 3,
//   +     "attempts": 2,
// and the memory queue's backstop (maxAttempts 2) recorded attempts 1.

const MAX_RETRY = 3;
let stack: EngineStack;

beforeAll(async () => {
  stack = await engineStack('dead_letter_attempts');
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
});
afterAll(() => stack?.cleanup());

describe('a dead-lettered write', () => {
  it('says it was tried maxRetry times: the dead letter, the error and the log agree', async () => {
    const errors: [string, unknown][] = [];
    const logged: [string, Record<string, unknown> | undefined][] = [];
    const logger: Logger = {
      debug() {},
      info() {},
      warn: (message, fields) => void logged.push([message, fields]),
      error: (message, fields) => void logged.push([message, fields]),
    };
    const schema = defineSchema({
      table: stack.tables.players,
      writeMode: 'write-behind',
      hooks: { onWriteError: (id, err) => void errors.push([id, err]) },
    });
    const queue = createMemoryQueue();
    const strata = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: stack.keyPrefix,
      schemas: [schema],
      logger,
      writeBehind: { queue, maxRetry: MAX_RETRY },
    });
    try {
      // Valid for the queue, refused by Postgres (NOT NULL username): poison.
      await queue.enqueue([
        {
          schema: schema.identity,
          id: 'bad',
          op: 'set',
          version: 2 ** 50,
          row: '{"id":"bad","username":null}',
        },
      ]);
      for (let i = 0; i < MAX_RETRY; i++) await strata.flushDirty().catch(() => {});

      // Three tries: two retried, the third dead-lettered.
      expect(strata.stats()).toMatchObject({ retried: MAX_RETRY - 1, deadLettered: 1 });
      expect(queue.deadLetters(), 'the dead letter').toMatchObject([
        { write: { id: 'bad' }, attempts: MAX_RETRY },
      ]);
      const [, gaveUp] = errors.find(([id]) => id === 'bad') ?? [];
      expect(isStrataError(gaveUp, 'WRITE_BEHIND_MAX_RETRY')).toBe(true);
      expect((gaveUp as Error).message).toMatch(/gave up after 3 attempts/);
      expect((gaveUp as { details?: unknown }).details).toMatchObject({ id: 'bad', attempts: MAX_RETRY });
      expect(logged.filter(([m]) => m === 'write-behind: dead-lettered')).toEqual([
        [
          'write-behind: dead-lettered',
          expect.objectContaining({ id: 'bad', attempts: MAX_RETRY, reason: 'rejected by Postgres (23502)' }),
        ],
      ]);
    } finally {
      await strata.close();
    }
  });

  it("the memory queue's own backstop (maxAttempts) counts the same way", async () => {
    const queue = createMemoryQueue({ maxAttempts: 2 });
    await queue.enqueue([{ schema: 's.t', id: 'x', op: 'delete', version: 1 }]);
    for (let i = 0; i < 2; i++) {
      const batch = await queue.take(10);
      expect(batch.map((d) => d.attempts)).toEqual([i]);
      await queue.retry(batch.map((d) => d.handle));
    }
    expect(queue.deadLetters()).toMatchObject([{ reason: 'max attempts (2)', attempts: 2 }]);
  });
});
