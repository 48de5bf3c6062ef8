import { afterAll, beforeAll, expect, it } from 'vitest';
import { defineSchema, type Logger, Strata } from '../src/index.js';
import { createMemoryQueue } from '../src/queue/memory-queue.js';
import { type EngineStack, engineStack } from './support/stack.js';

// Helper "newcomer": a write-behind write whose queued row does not decode, or names another id than
// its message, was dead-lettered by the flusher with no log line and no error counted: only
// `deadLettered` went up, so the write was lost without a word (a write Postgres refused for good
// logs 'write-behind: dead-lettered'). Now both are logged as that one is, and counted in
// `errorsBy.flush`. Before the fix this test failed with:
//   expected { gets: +0, sets: +0, …(25) } to match object { flushed: 1, deadLettered: 2, …(1) }
//   -   "errorsBy": { "flush": 2 },
//   +   "errorsBy": {},
// and, past that, its log held no 'write-behind: dead-lettered' line.

let stack: EngineStack;

beforeAll(async () => {
  stack = await engineStack('poison_dead_letter_log');
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
});
afterAll(() => stack?.cleanup());

it('a queued write that cannot be applied is dead-lettered, counted and logged', async () => {
  const logged: [string, Record<string, unknown> | undefined][] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (message, fields) => void logged.push([message, fields]),
    error: (message, fields) => void logged.push([message, fields]),
  };
  const schema = defineSchema({ table: stack.tables.players, writeMode: 'write-behind' });
  const queue = createMemoryQueue();
  const strata = new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    schemas: [schema],
    logger,
    writeBehind: { queue },
  });
  try {
    await queue.enqueue([
      // Valid messages for the queue; poison for the flusher, on their first delivery.
      { schema: schema.identity, id: 'garbled', op: 'set', version: 2 ** 50, row: '{"id":"garbled",' },
      {
        schema: schema.identity,
        id: 'mine',
        op: 'set',
        version: 2 ** 50,
        row: '{"id":"other","username":"x"}',
      },
      {
        schema: schema.identity,
        id: 'fine',
        op: 'set',
        version: 2 ** 50,
        row: '{"id":"fine","username":"ok"}',
      },
    ]);
    await strata.flushDirty();

    expect(strata.stats()).toMatchObject({ flushed: 1, deadLettered: 2, errorsBy: { flush: 2 } });
    expect(queue.deadLetters().map((d) => [d.write.id, d.attempts])).toEqual([
      ['garbled', 1],
      ['mine', 1],
    ]);
    expect(queue.deadLetters()[0]!.reason).toMatch(/^undecodable row: /);
    expect(
      logged.filter(([m]) => m === 'write-behind: dead-lettered'),
      'the log',
    ).toEqual([
      [
        'write-behind: dead-lettered',
        {
          schema: schema.name,
          id: 'garbled',
          attempts: 1,
          reason: expect.stringMatching(/^undecodable row: /),
        },
      ],
      [
        'write-behind: dead-lettered',
        {
          schema: schema.name,
          id: 'mine',
          attempts: 1,
          reason: "the row's primary key is not the message's id mine",
        },
      ],
    ]);
    // The one valid write of the batch was applied all the same.
    expect(await strata.get(schema, 'fine')).toMatchObject({ id: 'fine', username: 'ok' });
  } finally {
    await strata.close();
  }
});
