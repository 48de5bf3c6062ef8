import { pgSchema, text } from 'drizzle-orm/pg-core';
import type { MemoryQueue } from '../../src/queue/memory-queue.js';

/** A table whose unique `handle` makes a write poison for good: a second row with a taken handle. */
export const handlesTable = (schema: string) =>
  pgSchema(schema).table('handles', {
    id: text('id').primaryKey(),
    handle: text('handle').notNull().unique(),
  });

/** The memory queue, whose `deadLetter` fails `failures` times (a dead-letter store down). */
export function failingDeadLetter(queue: MemoryQueue, failures: number): MemoryQueue {
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
