import { expect, it } from 'vitest';
import type { QueuedWrite, WriteQueue } from '../src/queue/types.js';
import { strataRejection } from './l2-helpers.js';
import { sampleWrites } from './queue-samples.js';

/**
 * `position` / `heldUpTo` (optional, both or neither): what `flushDirty` asks of a shared queue to
 * wait for writes another consumer took. The holder is the peer where the queue has consumers, the
 * queue itself where it has none (memory: anything in flight is someone's flush).
 */
export function heldUpToConformance(queue: () => WriteQueue, peer: () => WriteQueue | undefined): void {
  it('position/heldUpTo: the writes up to the position that a consumer holds, until they are acked', async () => {
    const { position, heldUpTo } = queue();
    expect(position === undefined).toBe(heldUpTo === undefined);
    if (position === undefined || heldUpTo === undefined) return;
    const ids = (writes: readonly QueuedWrite[]) => writes.map((write) => write.id);
    const [before, after] = sampleWrites(2);
    const at0 = await position.call(queue());
    expect(await heldUpTo.call(queue(), at0, 10)).toEqual([]);
    await queue().enqueue([before!]);
    const at = await position.call(queue());
    await queue().enqueue([after!]);
    const holder = peer() ?? queue();
    const taken = await holder.take!(10);
    expect(ids(taken.map((d) => d.write))).toEqual([before!.id, after!.id]);
    expect(ids(await heldUpTo.call(queue(), at, 10))).toEqual([before!.id]);
    expect(await heldUpTo.call(queue(), at, 0)).toEqual([]);
    await holder.ack(taken.map((d) => d.handle));
    expect(await heldUpTo.call(queue(), at, 10)).toEqual([]);
  });

  it('position/after: a take hands out what it holds up to a position first, and after places each delivery', async () => {
    const { position, after } = queue();
    if (after === undefined) return;
    expect(position).toBeDefined();
    const [early, late] = sampleWrites(2);
    const at0 = await position!.call(queue());
    await queue().enqueue([early!]);
    const at = await position!.call(queue());
    await queue().enqueue([late!]);
    const isAfter = (p: string, handle: string) => after.call(queue(), p, handle);
    const first = await queue().take!(10);
    expect(first.map((d) => [d.write.id, isAfter(at0, d.handle), isAfter(at, d.handle)])).toEqual([
      [early!.id, true, false],
      [late!.id, true, true],
    ]);
    // A retried write is handed out again before anything enqueued after it, and keeps its place.
    await queue().retry(first.map((d) => d.handle));
    await queue().enqueue(sampleWrites(1, 2));
    const again = await queue().take!(10);
    expect(again.map((d) => isAfter(at, d.handle))).toEqual([false, true, true]);
    expect(again[0]!.write.id).toBe(early!.id);
    expect(
      (await strataRejection(Promise.resolve().then(() => isAfter('nope', first[0]!.handle)))).code,
    ).toBe('INVALID_CONFIG');
    await queue().ack(again.map((d) => d.handle));
  });
}
