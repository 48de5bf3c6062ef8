import { isStrataError } from '@strata/core';
import type { QueuedWrite } from '@strata/core/driver';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { bucketStream, planBucketStreams } from '../src/redis-tcp/bucket-layout.js';
import { BucketedStreamQueue } from '../src/redis-tcp/bucketed-queue.js';

// The redis-stream queue split by bucket (a stream per bucket), on the single Redis (its streams are
// key names; the Cluster runs: cluster-write-behind-buckets.test.ts). Order across streams is not
// kept (the flush is versioned; one key's writes share a stream), so the conformance suite, which
// checks one FIFO, is not run on it: what it must keep is below.

const url = serviceUrls().redisUrl;
const admin = new Redis(url, { protocol: 2 });
admin.on('error', () => {});
const prefixes: string[] = [];
afterAll(async () => {
  for (const p of prefixes) {
    const keys = await admin.keys(`{${p}*`);
    if (keys.length > 0) await admin.del(...keys);
  }
  await admin.quit();
});

const sampleWrites = (count: number): QueuedWrite[] =>
  Array.from({ length: count }, (_, i) => ({
    schema: 'conformance',
    id: `w${i}`,
    op: 'set',
    row: JSON.stringify({ id: `w${i}`, n: i }),
    version: i + 1,
  }));

function open(prefix: string, count = 4): BucketedStreamQueue {
  const plans = planBucketStreams({ keyPrefix: prefix, allowVolatile: true }, count, false);
  return new BucketedStreamQueue(new Redis(url, { protocol: 2, maxRetriesPerRequest: 0 }), 'owned', plans);
}

describe('the redis-stream queue over 4 buckets', () => {
  it('spreads writes over the streams; takes hand out at most max, each write once across two consumers; pending sums the streams', async () => {
    const p = uniqueName('qb_wbbuckets');
    prefixes.push(p);
    const [queue, peer] = [open(p), open(p)];
    const writes = sampleWrites(300);
    await queue.enqueue(writes);
    const lengths = await Promise.all([0, 1, 2, 3].map((b) => admin.xlen(bucketStream(p, b))));
    expect(lengths.every((n) => n > 30)).toBe(true);
    expect(await peer.pending()).toBe(300);
    const small = await queue.take(3);
    expect(small.length).toBe(3);
    const taken = [...small];
    for (let round = 0; round < 40; round++) {
      const [mine, theirs] = await Promise.all([queue.take(70), peer.take(70)]);
      expect(mine.length).toBeLessThanOrEqual(70);
      taken.push(...mine, ...theirs);
      if (mine.length === 0 && theirs.length === 0) break;
    }
    expect(taken.map((d) => d.write.id).sort()).toEqual(writes.map((w) => w.id).sort());
    await queue.ack(small.map((d) => d.handle));
    await queue.ack(taken.slice(3, 150).map((d) => d.handle));
    await peer.ack(taken.slice(150).map((d) => d.handle));
    expect(await queue.pending()).toBe(0);
    await Promise.all([queue.close(), peer.close()]);
  });

  it('position/heldUpTo cover every stream: what the peer holds up to the position, until acked', async () => {
    const p = uniqueName('qb_wbbuckets');
    prefixes.push(p);
    const [queue, peer] = [open(p), open(p)];
    await queue.enqueue(sampleWrites(40));
    const at = await queue.position();
    expect(at.split(',')).toHaveLength(4);
    await queue.enqueue(sampleWrites(10).map((w) => ({ ...w, id: `later${w.id}` })));
    const held = await peer.take(100);
    expect(held).toHaveLength(50);
    const ids = (await queue.heldUpTo(at, 100)).map((w) => w.id).sort();
    expect(ids).toEqual(
      sampleWrites(40)
        .map((w) => w.id)
        .sort(),
    );
    expect(await queue.heldUpTo(at, 5)).toHaveLength(5);
    await expect(queue.heldUpTo('0-0', 5)).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
    await peer.ack(held.map((d) => d.handle));
    expect(await queue.heldUpTo(at, 100)).toEqual([]);
    await Promise.all([queue.close(), peer.close()]);
  });

  it('after places each delivery against its own stream in the position; a stream the last take did not read leaves none after', async () => {
    const p = uniqueName('qb_wbbuckets');
    prefixes.push(p);
    const queue = open(p);
    await queue.enqueue(sampleWrites(40));
    const at = await queue.position();
    await queue.enqueue(sampleWrites(10).map((w) => ({ ...w, id: `later${w.id}` })));
    const taken = await queue.take(100);
    expect(taken).toHaveLength(50);
    expect(taken.map((d) => queue.after(at, d.handle))).toEqual(
      taken.map((d) => d.write.id.startsWith('later')),
    );
    const later = taken.find((d) => d.write.id.startsWith('later'))!.handle;
    expect(() => queue.after('0-0', later)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
    await queue.ack(taken.map((d) => d.handle));
    // A take of 1 reads one stream: what the three others hold is not known.
    await queue.take(1);
    expect(queue.after(at, later)).toBe(false);
    await queue.take(100);
    expect(queue.after(at, later)).toBe(true);
    // A stream whose take fails (here: its key is no stream) is unknown until a take reads it again.
    const broken = bucketStream(p, 3);
    await admin.del(broken);
    await admin.set(broken, 'not a stream');
    await queue.take(100).catch(() => []);
    expect(queue.after(at, later)).toBe(false);
    await admin.del(broken);
    await queue.take(100);
    expect(queue.after(at, later)).toBe(true);
    await queue.close();
  });

  it('retry and deadLetter reach the delivery’s own stream', async () => {
    const p = uniqueName('qb_wbbuckets');
    prefixes.push(p);
    const queue = open(p);
    await queue.enqueue(sampleWrites(8));
    const batch = await queue.take(8);
    await queue.retry(batch.slice(0, 4).map((d) => d.handle));
    await queue.ack(batch.slice(4).map((d) => d.handle));
    const again = await queue.take(8);
    expect(again.map((d) => [d.write.id, d.attempts]).sort()).toEqual(
      batch
        .slice(0, 4)
        .map((d) => [d.write.id, 1])
        .sort(),
    );
    await queue.deadLetter(again, 'gave up');
    expect(await queue.pending()).toBe(0);
    const dead = await queue.deadLetters();
    expect(dead.map((d) => d.write?.id ?? '').sort()).toEqual(again.map((d) => d.write.id).sort());
    await queue.close();
  });

  it('checkDurability records the bucket count; another count is refused while its writes wait', async () => {
    const p = uniqueName('qb_wbbuckets');
    prefixes.push(p);
    const four = open(p, 4);
    expect(await four.checkDurability()).toBe('volatile');
    expect(await admin.get(`${bucketStream(p, 3)}:buckets`)).toBe('4');
    await four.enqueue(sampleWrites(20));
    const two = open(p, 2);
    const refusal = await two.checkDurability().catch((err: unknown) => err);
    expect(isStrataError(refusal, 'INVALID_CONFIG')).toBe(true);
    expect(String(refusal)).toContain(`${bucketStream(p, 3)} (`);
    // The first write is refused as well, and nothing is written.
    expect(
      isStrataError(await two.enqueue(sampleWrites(1)).catch((err: unknown) => err), 'INVALID_CONFIG'),
    ).toBe(true);
    expect(await four.pending()).toBe(20);
    await four.ack((await four.take(100)).map((d) => d.handle));
    expect(await two.checkDurability()).toBe('volatile');
    await Promise.all([four.close(), two.close()]);
  });
});
