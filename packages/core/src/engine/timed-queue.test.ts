import { describe, expect, it } from 'vitest';
import { isStrataError, StrataError } from '../errors.js';
import { createMemoryQueue } from '../queue/memory-queue.js';
import type { WriteQueue } from '../queue/types.js';
import { timedQueue } from './timed-queue.js';

const write = { schema: 's', id: '1', op: 'delete' as const, version: 1 };

describe('timedQueue', () => {
  it('passes calls through, fails a hanging or failing one as QUEUE_UNAVAILABLE (counted), keeps input errors', async () => {
    const failures: string[] = [];
    const real = createMemoryQueue();
    const hang = () => new Promise<never>(() => {});
    const queue: WriteQueue = {
      ...real,
      name: 'odd',
      enqueue: (writes) =>
        writes.length > 1 ? Promise.reject(new Error('socket closed')) : real.enqueue(writes),
      take: (max) => real.take!(max),
      ack: hang,
      retry: () => Promise.reject(new StrataError('VALIDATION_FAILED', 'not a handle')),
      deadLetter: (d, r) => real.deadLetter(d, r),
      pending: () => real.pending(),
      close: () => real.close(),
    };
    const timed = timedQueue(queue, 50, (err) => void failures.push(err.message));
    await timed.enqueue([write]);
    expect(await timed.pending()).toBe(1);

    const down = await timed.enqueue([write, write]).catch((e: unknown) => e);
    expect(isStrataError(down, 'QUEUE_UNAVAILABLE')).toBe(true);
    expect(((down as Error).cause as Error).message).toBe('socket closed');

    const hung = await timed.ack(['h']).catch((e: unknown) => e);
    expect(isStrataError(hung, 'QUEUE_UNAVAILABLE')).toBe(true);
    expect(isStrataError((hung as Error).cause, 'TIMEOUT')).toBe(true);

    const input = await timed.retry(['x']).catch((e: unknown) => e);
    expect(isStrataError(input, 'VALIDATION_FAILED')).toBe(true);
    expect(failures).toEqual([
      // The cause's words too: "position failed" alone hid a refused connection from the reader.
      expect.stringMatching(/write queue odd: enqueue failed: socket closed$/),
      expect.stringMatching(/write queue odd: ack failed: .*queue ack \(odd\).*50 ?ms/),
    ]);
  });
});
