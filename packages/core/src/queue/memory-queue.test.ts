import { describe, expect, it } from 'vitest';
import { isStrataError } from '../errors.js';
import { createMemoryQueue } from './memory-queue.js';
import type { QueuedWrite } from './types.js';

const write = (i: number): QueuedWrite => ({ schema: 's', id: `w${i}`, op: 'delete', version: i });
const writes = (n: number): QueuedWrite[] => Array.from({ length: n }, (_, i) => write(i));

describe('memory queue', () => {
  it('puts a retried write back in its enqueue order, ahead of everything enqueued after it', async () => {
    const queue = createMemoryQueue();
    await queue.enqueue(writes(6));
    const first = await queue.take(2); // w0 w1
    const second = await queue.take(2); // w2 w3
    await queue.enqueue([write(6)]);
    await queue.retry([second[1]!.handle, first[0]!.handle]); // w3, then w0
    await queue.retry([second[0]!.handle]); // w2
    const next = await queue.take(10);
    expect(next.map((d) => [d.write.id, d.attempts])).toEqual([
      ['w0', 1],
      ['w2', 1],
      ['w3', 1],
      ['w4', 0],
      ['w5', 0],
      ['w6', 0],
    ]);
  });

  it('maxAttempts dead-letters a write on the retry that would deliver it once too often (attempts: the tries made)', async () => {
    const queue = createMemoryQueue({ maxAttempts: 3 });
    await queue.enqueue([write(1)]);
    for (const attempts of [0, 1, 2]) {
      const [delivery] = await queue.take(1);
      expect(delivery?.attempts).toBe(attempts);
      await queue.retry([delivery!.handle]);
    }
    expect(await queue.take(1)).toEqual([]);
    expect(await queue.pending()).toBe(0);
    expect(queue.deadLetters()).toEqual([
      { handle: '1', write: write(1), reason: 'max attempts (3)', attempts: 3 },
    ]);
  });

  it('ignores retries of writes not in flight, and acks of writes still waiting forget them', async () => {
    const queue = createMemoryQueue();
    await queue.enqueue(writes(3));
    const [d0] = await queue.take(1);
    await queue.retry([d0!.handle]);
    await queue.retry([d0!.handle, 'no such handle']); // waiting again, not in flight: no second bump
    await queue.ack(['2']); // w1, never taken
    const batch = await queue.take(10);
    expect(batch.map((d) => [d.write.id, d.attempts])).toEqual([
      ['w0', 1],
      ['w2', 0],
    ]);
    expect(await queue.pending()).toBe(2);
  });

  it('deadLetter of writes already acked records nothing', async () => {
    const queue = createMemoryQueue();
    await queue.enqueue(writes(1));
    const batch = await queue.take(1);
    await queue.ack([batch[0]!.handle]);
    await queue.deadLetter(batch, 'late');
    expect(queue.deadLetters()).toEqual([]);
  });

  it('keeps at most maxDeadLetters, dropping the oldest', async () => {
    const queue = createMemoryQueue({ maxDeadLetters: 2 });
    await queue.enqueue(writes(3));
    await queue.deadLetter(await queue.take(3), 'no');
    expect(queue.deadLetters().map((d) => d.write?.id)).toEqual(['w1', 'w2']);
  });

  it('hands out frozen copies: a caller mutating its write after enqueue changes nothing', async () => {
    const queue = createMemoryQueue();
    const mine = { ...write(1), extra: 'dropped' };
    await queue.enqueue([mine]);
    mine.id = 'changed';
    const [delivery] = await queue.take(1);
    expect(delivery?.write).toEqual(write(1));
    expect(Object.isFrozen(delivery?.write)).toBe(true);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses maxAttempts %s', (maxAttempts) => {
    let error: unknown;
    try {
      createMemoryQueue({ maxAttempts });
    } catch (err) {
      error = err;
    }
    expect(isStrataError(error, 'INVALID_CONFIG')).toBe(true);
  });
});
