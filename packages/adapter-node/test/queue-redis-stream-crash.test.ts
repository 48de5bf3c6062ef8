import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Delivery } from '@strata/core/driver';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createRedisStreamQueue, type RedisStreamQueue } from '../src/redis-tcp/queue.js';
import { WRITE_FIELD } from '../src/redis-tcp/stream-entry.js';

const url = serviceUrls().redisUrl;
const producer = fileURLToPath(new URL('./fixtures/enqueue-writes.mjs', import.meta.url));
const admin = new Redis(url, { protocol: 2 });
admin.on('error', () => {});

const children = new Set<ChildProcess>();
const queues: RedisStreamQueue[] = [];
const streams: string[] = [];
afterEach(async () => {
  // Only the children this file started, by their pid.
  for (const child of children) {
    if (child.pid && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  }
  children.clear();
  await Promise.all(queues.splice(0).map((q) => q.close()));
  if (streams.length > 0) await admin.del(...streams.splice(0));
});
afterAll(async () => {
  await admin.quit();
});

function newStream(): string {
  const stream = uniqueName('queue_crash');
  streams.push(stream, `${stream}:dead`);
  return stream;
}

function consumer(stream: string, name: string): RedisStreamQueue {
  // This machine's Redis has no AOF: the queue refuses it unless told (the test kills Node, not Redis).
  const queue = createRedisStreamQueue({
    url,
    stream,
    consumer: name,
    claimIdleMs: 200,
    allowVolatile: true,
  });
  queues.push(queue);
  return queue;
}

/** Takes (and acks) until the queue has nothing more to hand out; every delivery, in order. */
async function drain(queue: RedisStreamQueue): Promise<Delivery[]> {
  const all: Delivery[] = [];
  for (;;) {
    const batch = await queue.take(500);
    if (batch.length === 0) return all;
    all.push(...batch);
    await queue.ack(batch.map((d) => d.handle));
  }
}

describe('Redis Stream queue, crash safety', () => {
  it('a producer killed -9 mid-stream, and a consumer dead with a batch in hand, lose no acknowledged write', async () => {
    const stream = newStream();
    const child = spawn(process.execPath, [producer, url, stream, WRITE_FIELD], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    children.add(child);
    const acknowledged: string[] = [];
    let partial = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      acknowledged.push(...lines);
    });
    // 'close' comes after stdout is drained: every id printed before the kill is counted.
    const closed = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('close', (_, signal) => resolve(signal)),
    );
    const ackedCount = (n: number) =>
      vi.waitFor(() => expect(acknowledged.length).toBeGreaterThanOrEqual(n), {
        timeout: 15_000,
        interval: 5,
      });

    // While the producer runs, a consumer takes 500, flushes 100 of them and dies with the other 400.
    await ackedCount(1_000);
    const doomed = consumer(stream, 'doomed');
    const held = await doomed.take(500);
    await doomed.ack(held.slice(0, 100).map((d) => d.handle));
    await doomed.close();
    const flushedBeforeDying = held.slice(0, 100).map((d) => d.write.id);

    await ackedCount(2_000);
    process.kill(child.pid!, 'SIGKILL');
    expect(await closed).toBe('SIGKILL');

    // A new consumer gets the rest: new entries at once, the dead consumer's after claimIdleMs.
    const recovery = consumer(stream, 'recovery');
    const delivered: string[] = [];
    await vi.waitFor(
      async () => {
        delivered.push(...(await drain(recovery)).map((d) => d.write.id));
        expect(await admin.xlen(stream)).toBe(0);
      },
      { timeout: 5_000, interval: 50 },
    );
    const flushed = [...flushedBeforeDying, ...delivered];
    const unique = new Set(flushed);
    const lost = acknowledged.filter((id) => !unique.has(id));
    const duplicates = flushed.length - unique.size;
    console.info(
      `crash test: ${acknowledged.length} writes acknowledged to the producer before its kill -9; ` +
        `${held.length} taken by the consumer that died (${flushedBeforeDying.length} acked first); ` +
        `${delivered.length} delivered to the new consumer (${recovery.stats().reclaimed} reclaimed); ` +
        `${lost.length} lost, ${duplicates} duplicates, ` +
        `${unique.size - acknowledged.length} written but not yet acknowledged when the producer died`,
    );
    expect(lost).toEqual([]);
    expect(duplicates).toBe(0);
    expect(recovery.stats().reclaimed).toBe(held.length - flushedBeforeDying.length);
  });

  it('what a consumer took and never acked goes to another consumer once idle for claimIdleMs', async () => {
    const stream = newStream();
    const doomed = consumer(stream, 'doomed');
    await doomed.enqueue(
      Array.from({ length: 50 }, (_, i) => ({ schema: 's', id: `w${i}`, op: 'delete' as const, version: i })),
    );
    const startedAt = Date.now();
    const held = await doomed.take(30);
    await doomed.ack(held.slice(0, 10).map((d) => d.handle));
    await doomed.close(); // dies holding w10..w29, never acked
    const orphaned = held.slice(10).map((d) => d.write.id);

    const survivor = consumer(stream, 'survivor');
    const got: Delivery[] = await survivor.take(100);
    // Too soon for the orphans, unless this machine took claimIdleMs to get here.
    if (Date.now() - startedAt < 200) {
      expect(got.map((d) => d.write.id)).toEqual(Array.from({ length: 20 }, (_, i) => `w${30 + i}`));
    }
    await vi.waitFor(
      async () => {
        got.push(...(await survivor.take(100)));
        expect(got.map((d) => d.write.id).filter((id) => orphaned.includes(id))).toHaveLength(20);
      },
      { timeout: 5_000, interval: 50 },
    );
    expect(got.filter((d) => orphaned.includes(d.write.id)).every((d) => d.attempts === 1)).toBe(true);
    expect(new Set(got.map((d) => d.write.id)).size).toBe(40);
    await survivor.ack(got.map((d) => d.handle));
    expect(await survivor.pending()).toBe(0);
  });
});
