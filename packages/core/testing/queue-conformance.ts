import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isStrataError } from '../src/errors.js';
import type { DeadLetter, UnreadableDeadLetter } from '../src/queue/dead-letter.js';
import type { Delivery, QueuedWrite, WriteQueue } from '../src/queue/types.js';
import { strataRejection } from './l2-helpers.js';
import { heldUpToConformance } from './queue-conformance-held.js';
import { INVALID_WRITES, sampleWrites, TRICKY_WRITES } from './queue-samples.js';

/** What a conformance run needs from an implementation; a fresh, empty one for every test. */
export interface QueueFixture {
  /** A pull queue (with `take`). Its redelivery of unacked work must not kick in during a test. */
  queue: WriteQueue;
  /** A second queue over the same backing store (another consumer), where there can be one. */
  peer?: WriteQueue;
  /** The dead-letter store, where the implementation can read it back. */
  deadLetters?(): Promise<readonly (DeadLetter | UnreadableDeadLetter)[]>;
  /** Deletes what the test stored and closes the queues (which the test may have closed already). */
  cleanup(): Promise<void>;
}

/**
 * The write-queue seam's conformance suite, written once and run against every pull queue.
 * `factory` is called before every test and `cleanup` after it.
 *
 * @example
 * describeQueueConformance('memory', async () => {
 *   const queue = createMemoryQueue();
 *   return { queue, deadLetters: async () => queue.deadLetters(), cleanup: () => queue.close() };
 * });
 */
export function describeQueueConformance(name: string, factory: () => Promise<QueueFixture>): void {
  describe(`write queue conformance: ${name}`, () => {
    let fixture: QueueFixture | undefined;
    const current = (): QueueFixture => {
      if (fixture === undefined) throw new Error('the queue fixture did not start');
      return fixture;
    };
    const queue = (): WriteQueue => current().queue;
    const take = (max: number, from: WriteQueue = queue()): Promise<Delivery[]> => {
      if (from.take === undefined) throw new Error(`${from.name} is not a pull queue: it has no take()`);
      return from.take(max);
    };
    const handles = (batch: readonly Delivery[]): string[] => batch.map((d) => d.handle);
    const ids = (batch: readonly Delivery[]): string[] => batch.map((d) => d.write.id);

    beforeEach(async () => {
      fixture = await factory();
    });
    afterEach(async () => {
      await fixture?.cleanup();
      fixture = undefined;
    });

    it('brings the loop that drives it in each Strata instance (flushLoop)', () => {
      // Without it a Strata refuses the queue: nothing else would flush what it holds.
      expect(typeof queue().flushLoop).toBe('function');
    });

    it('take hands out what was enqueued, in order, with attempts 0 and every field intact', async () => {
      await queue().enqueue(TRICKY_WRITES);
      const batch = await take(100);
      expect(batch.map((d) => d.write)).toEqual(TRICKY_WRITES);
      expect(batch.map((d) => d.attempts)).toEqual(TRICKY_WRITES.map(() => 0));
      expect(new Set(handles(batch)).size).toBe(TRICKY_WRITES.length);
      expect(batch[3]?.write.row?.length).toBeGreaterThan(100 * 1024);
    });

    it('take(max) hands out at most max, oldest first, never one already in flight', async () => {
      await queue().enqueue(sampleWrites(10));
      expect(ids(await take(3))).toEqual(['w0', 'w1', 'w2']);
      expect(ids(await take(4))).toEqual(['w3', 'w4', 'w5', 'w6']);
      expect(await take(0)).toEqual([]);
      expect(ids(await take(100))).toEqual(['w7', 'w8', 'w9']);
      expect(await take(5)).toEqual([]);
      expect(isStrataError(await strataRejection(take(-1)))).toBe(true);
    });

    it('acked deliveries never come back; acking again or an empty list is a no-op', async () => {
      await queue().enqueue(sampleWrites(5));
      const batch = await take(5);
      await queue().ack(handles(batch.filter((_, i) => i % 2 === 0)));
      await queue().retry(handles(batch.filter((_, i) => i % 2 === 1)));
      const again = await take(10);
      expect(ids(again).sort()).toEqual(['w1', 'w3']);
      await queue().ack(handles(again));
      await queue().ack(handles(batch));
      await queue().ack([]);
      expect(await take(10)).toEqual([]);
      expect(await queue().pending()).toBe(0);
    });

    it('retried deliveries come back at once, attempts growing 1, 2, 3', async () => {
      await queue().enqueue(sampleWrites(2));
      const [first, second] = await take(2);
      await queue().ack([second!.handle]);
      let delivery = first!;
      for (const attempts of [1, 2, 3]) {
        await queue().retry([delivery.handle]);
        const batch = await take(10);
        expect(batch.map((d) => [d.write, d.attempts])).toEqual([[first!.write, attempts]]);
        delivery = batch[0]!;
      }
      await queue().retry([]);
      await queue().ack([delivery.handle]);
      expect(await queue().pending()).toBe(0);
    });

    it('deadLetter takes deliveries out of the flow (into the dead-letter store, with the reason)', async () => {
      await queue().enqueue(sampleWrites(3));
      const [d0, d1, d2] = await take(3);
      await queue().retry([d1!.handle]);
      const [d1again] = await take(3);
      expect(d1again?.attempts).toBe(1);
      await queue().deadLetter([d0!, d1again!], 'L3 rejected: boom');
      expect(await queue().pending()).toBe(1);
      await queue().ack([d2!.handle]);
      expect(await take(10)).toEqual([]);
      expect(await queue().pending()).toBe(0);
      const dead = await current().deadLetters?.();
      if (dead === undefined) return;
      expect(dead).toHaveLength(2);
      // `attempts`: the tries made, the last one counted (d0 on its first delivery, d1 on its second).
      expect(dead).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ write: d0!.write, reason: 'L3 rejected: boom', attempts: 1 }),
          expect.objectContaining({ write: d1!.write, reason: 'L3 rejected: boom', attempts: 2 }),
        ]),
      );
    });

    it('pending() counts writes enqueued and not yet acked or dead-lettered, in flight or not', async () => {
      expect(await queue().pending()).toBe(0);
      await queue().enqueue(sampleWrites(4));
      expect(await queue().pending()).toBe(4);
      const [a, b] = await take(2);
      expect(await queue().pending()).toBe(4);
      await queue().ack([a!.handle]);
      expect(await queue().pending()).toBe(3);
      await queue().retry([b!.handle]);
      expect(await queue().pending()).toBe(3);
      const [bAgain] = await take(1);
      await queue().deadLetter([bAgain!], 'gave up');
      expect(await queue().pending()).toBe(2);
    });

    it('1,000 writes enqueued in one call are taken in batches of 100, none lost or duplicated', async () => {
      const writes = sampleWrites(1_000);
      await queue().enqueue(writes);
      expect(await queue().pending()).toBe(1_000);
      const seen: string[] = [];
      const sizes: number[] = [];
      for (let round = 0; round < 20; round++) {
        const batch = await take(100);
        if (batch.length === 0) break;
        sizes.push(batch.length);
        seen.push(...ids(batch));
        await queue().ack(handles(batch));
      }
      expect(sizes).toEqual(Array.from({ length: 10 }, () => 100));
      expect(seen).toEqual(writes.map((w) => w.id));
      expect(await queue().pending()).toBe(0);
    });

    const concurrently = async (other: () => WriteQueue): Promise<void> => {
      const writes = sampleWrites(300);
      await queue().enqueue(writes);
      const taken: Delivery[] = [];
      for (let round = 0; round < 20; round++) {
        const [mine, theirs] = await Promise.all([take(70), take(70, other())]);
        const here = new Set(handles(mine));
        expect(handles(theirs).filter((h) => here.has(h))).toEqual([]);
        taken.push(...mine, ...theirs);
        if (mine.length === 0 && theirs.length === 0) break;
      }
      expect(ids(taken).sort()).toEqual(writes.map((w) => w.id).sort());
      await queue().ack(handles(taken));
      expect(await queue().pending()).toBe(0);
    };

    it('two takes at once on one queue never hand out the same delivery', () => concurrently(queue));

    it('two takes at once on two queues over one store never hand out the same delivery', async () => {
      const peer = current().peer;
      if (peer === undefined) return;
      await concurrently(() => peer);
    });

    it.each(INVALID_WRITES)(
      'enqueue refuses %s (VALIDATION_FAILED) and enqueues none of the batch',
      async (_, bad) => {
        const batch = [...sampleWrites(2), bad as QueuedWrite];
        const error = await strataRejection(queue().enqueue(batch));
        expect(error.code).toBe('VALIDATION_FAILED');
        expect(await queue().pending()).toBe(0);
        expect(await take(10)).toEqual([]);
      },
    );

    heldUpToConformance(queue, () => current().peer);

    it('enqueue of nothing is a no-op', async () => {
      await queue().enqueue([]);
      expect(await queue().pending()).toBe(0);
    });

    it('close() is idempotent, and a closed queue refuses new writes', async () => {
      await Promise.all([queue().close(), queue().close()]);
      await queue().close();
      const error = await strataRejection(queue().enqueue(sampleWrites(1)));
      expect(error.code).toBe('QUEUE_UNAVAILABLE');
    });
  });
}
