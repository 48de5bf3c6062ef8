import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryQueue, defineSchema, isStrataError, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

// A closed instance refuses every call with UNAVAILABLE "this Strata instance is closed" (api.md);
// flushDirty and queueDepth answered from the queue instead: QUEUE_UNAVAILABLE "write queue memory
// is closed" (a Redis Stream queue's: "write queue redis-stream is closed"), naming the queue, not the close.
let stack: EngineStack;
let scores: ReturnType<typeof defineSchema<EngineStack['tables']['sessions']>>;

beforeAll(async () => {
  stack = await engineStack('closed_instance');
  scores = defineSchema({ table: stack.tables.sessions, writeMode: 'write-behind' });
});
afterAll(() => stack?.cleanup());

describe('a closed instance', () => {
  it('rejects flushDirty and queueDepth with UNAVAILABLE, as every other call', async () => {
    const strata = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: stack.keyPrefix,
      schemas: [scores],
      writeBehind: { queue: createMemoryQueue() },
    });
    await strata.migrate();
    await strata.set(scores, { id: 's1', userId: 'u1' });
    await strata.close(); // flushes s1
    for (const call of [() => strata.flushDirty(), () => strata.queueDepth()]) {
      const err = await call().then(
        () => 'resolved',
        (e: unknown) => e,
      );
      expect(isStrataError(err, 'UNAVAILABLE'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(/this Strata instance is closed/);
    }
  });
});
