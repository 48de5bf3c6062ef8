import { isStrataError } from '@strata/core';
import type { QueuedWrite } from '@strata/core/driver';
import { describeQueueConformance, type QueueFixture, strataRejection } from '@strata/core/testing';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createRedisStreamQueue, type RedisStreamQueue } from '../src/redis-tcp/queue.js';
import { WRITE_FIELD } from '../src/redis-tcp/stream-entry.js';

const url = serviceUrls().redisUrl;
/** This machine's Redis runs without AOF (as the CI's does): the queue refuses it unless told. */
const allowVolatile = true;
const admin = new Redis(url, { protocol: 2 });
admin.on('error', () => {});
afterAll(async () => {
  await admin.quit();
});

/** A queue and a peer (another consumer) on a fresh stream; both streams are deleted by `cleanup`. */
function streamFixture(connect?: () => Redis): () => Promise<QueueFixture> {
  return async () => {
    const stream = uniqueName('queue');
    const clients = connect ? [connect(), connect()] : [];
    const open = (client: Redis | undefined): RedisStreamQueue =>
      createRedisStreamQueue({ ...(client ? { redis: client } : { url }), stream, allowVolatile });
    const queue = open(clients[0]);
    const peer = open(clients[1]);
    return {
      queue,
      peer,
      deadLetters: () => queue.deadLetters(),
      cleanup: async () => {
        await Promise.all([queue.close(), peer.close(), ...clients.map((c) => c.quit())]);
        await admin.del(stream, queue.deadLetterStream);
      },
    };
  };
}

const borrowed = (options: RedisOptions) => () => {
  const client = new Redis(url, options);
  client.on('error', () => {});
  return client;
};

describeQueueConformance('redis stream, connection opened from a URL', streamFixture());
// ioredis 6 defaults to RESP3: a borrowed client in that mode, or with RESP3 reply shapes, works the same.
describeQueueConformance('redis stream, a RESP3 client handed in', streamFixture(borrowed({})));
describeQueueConformance(
  'redis stream, a RESP3 client with resp3 reply mapping',
  streamFixture(borrowed({ replyMapping: 'resp3' })),
);

describe('Redis Stream queue', () => {
  const opened: RedisStreamQueue[] = [];
  const open = (stream: string, consumer?: string): RedisStreamQueue => {
    const queue = createRedisStreamQueue({ url, stream, allowVolatile, ...(consumer && { consumer }) });
    opened.push(queue);
    return queue;
  };
  const write = (i: number): QueuedWrite => ({ schema: 's', id: `w${i}`, op: 'delete', version: i });
  let streams: string[] = [];
  const newStream = (): string => {
    const stream = uniqueName('queue');
    streams.push(stream, `${stream}:dead`);
    return stream;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((q) => q.close()));
    if (streams.length > 0) await admin.del(...streams);
    streams = [];
  });

  it('starts its group at 0: writes enqueued before any flusher ran are flushed too', async () => {
    const stream = newStream();
    await admin.xadd(stream, '*', WRITE_FIELD, JSON.stringify(write(0)));
    await open(stream).enqueue([write(1)]);
    const batch = await open(stream).take(10);
    expect(batch.map((d) => d.write)).toEqual([write(0), write(1)]);
  });

  it('dead-letters malformed entries as it finds them, counts them, and hands out the rest', async () => {
    const stream = newStream();
    await admin.xadd(stream, '*', WRITE_FIELD, JSON.stringify(write(0)));
    await admin.xadd(stream, '*', WRITE_FIELD, '{not json');
    await admin.xadd(stream, '*', 'other', 'field');
    await admin.xadd(stream, '*', WRITE_FIELD, JSON.stringify({ ...write(1), op: 'upsert' }));
    await admin.xadd(stream, '*', WRITE_FIELD, JSON.stringify(write(2)));
    const queue = open(stream);
    const batch = await queue.take(10);
    expect(batch.map((d) => d.write.id)).toEqual(['w0', 'w2']);
    expect(queue.stats().malformed).toBe(3);
    expect(await queue.pending()).toBe(2);
    const dead = await queue.deadLetters();
    expect(dead.map((d) => [d.write, 'raw' in d ? d.raw : undefined, d.attempts])).toEqual([
      // Found on their first delivery: 1 try (a dead letter's attempts counts the last one).
      [null, '{not json', 1],
      [null, '["other","field"]', 1],
      [null, JSON.stringify({ ...write(1), op: 'upsert' }), 1],
    ]);
    expect(dead.every((d) => d.reason.startsWith('malformed: '))).toBe(true);
    expect(await queue.take(10)).toEqual([]);
  });

  it('ack deletes the entries: the stream is exactly the backlog', async () => {
    const stream = newStream();
    const queue = open(stream);
    await queue.enqueue([0, 1, 2, 3, 4].map(write));
    const batch = await queue.take(5);
    await queue.ack(batch.slice(0, 3).map((d) => d.handle));
    expect(await admin.xlen(stream)).toBe(2);
    const [count] = (await admin.xpending(stream, queue.group)) as [number];
    expect(count).toBe(2);
  });

  it('close() leaves the group when the consumer holds nothing, and stays while it holds entries', async () => {
    const stream = newStream();
    const consumers = async () =>
      ((await admin.xinfo('CONSUMERS', stream, done.group)) as unknown[][]).map((c) => c[1]);
    const done = open(stream, 'done');
    await done.enqueue([write(0)]);
    await done.ack((await done.take(1)).map((d) => d.handle));
    const holding = open(stream, 'holding');
    await holding.enqueue([write(1)]);
    expect(await holding.take(1)).toHaveLength(1);
    expect(await consumers()).toEqual(['done', 'holding']);
    await done.close();
    await holding.close();
    expect(done.stats().consumerRemoved).toBe(true);
    expect(holding.stats().consumerRemoved).toBe(false);
    // The held entry is still pending (for XAUTOCLAIM by the next consumer), its consumer still listed.
    expect(await consumers()).toEqual(['holding']);
    const [count] = (await admin.xpending(stream, done.group)) as [number];
    expect(count).toBe(1);
  });

  it('a retried entry goes to whichever consumer takes next, at once', async () => {
    const stream = newStream();
    const [a, b] = [open(stream, 'a'), open(stream, 'b')];
    await a.enqueue([write(1)]);
    const [delivery] = await a.take(1);
    await a.retry([delivery!.handle]);
    const again = await b.take(1);
    expect(again.map((d) => [d.handle, d.attempts])).toEqual([[delivery!.handle, 1]]);
    expect(b.stats().reclaimed).toBe(1);
  });

  it('entries a lost take handed to this consumer come back at its next take, not after claimIdleMs', async () => {
    const stream = newStream();
    const queue = open(stream, 'own');
    await queue.enqueue([write(1), write(2)]);
    const [first] = await queue.take(1); // creates the group; w1 is in flight
    // A take whose reply never came back (a timeout; ioredis may even send it again later): Redis
    // handed w2 to this consumer, which never saw it.
    await admin.xreadgroup('GROUP', queue.group, 'own', 'COUNT', 10, 'STREAMS', stream, '>');
    const again = await queue.take(10);
    // w2 at once (delivered once before); w1 is still the caller's, not handed out twice.
    expect(again.map((d) => [d.write.id, d.attempts])).toEqual([['w2', 1]]);
    await queue.ack([first!.handle, ...again.map((d) => d.handle)]);
    expect(await queue.take(10)).toEqual([]);
    expect(await queue.pending()).toBe(0);
  });

  it('a pending entry deleted under it is acked at the next take, not handed out, and counted', async () => {
    const stream = newStream();
    const queue = open(stream, 'own');
    await queue.enqueue([write(1), write(2)]);
    const batch = await queue.take(10);
    await queue.retry(batch.map((d) => d.handle));
    await admin.xdel(stream, batch[0]!.handle);
    const again = await queue.take(10);
    expect(again.map((d) => d.write.id)).toEqual(['w2']);
    expect(queue.stats().vanished).toBe(1);
    const pending = (await admin.xpending(stream, queue.group)) as [number, ...unknown[]];
    expect(pending[0]).toBe(1); // w2 only: the deleted one left the pending list
  });

  it('deadLetter of an entry acked meanwhile (by a peer that reclaimed it) records nothing', async () => {
    const stream = newStream();
    const queue = open(stream);
    await queue.enqueue([write(1)]);
    const batch = await queue.take(1);
    await queue.ack(batch.map((d) => d.handle));
    await queue.deadLetter(batch, 'too late');
    expect(await queue.deadLetters()).toEqual([]);
  });

  it('creates its group again when the stream is deleted under it', async () => {
    const stream = newStream();
    const queue = open(stream);
    expect(await queue.take(1)).toEqual([]);
    await admin.del(stream);
    await queue.enqueue([write(1)]);
    expect((await queue.take(1)).map((d) => d.write)).toEqual([write(1)]);
  });

  it('speaks RESP2 on a connection it opens and quits it on close; a borrowed one stays open', async () => {
    const name = uniqueName('queue_conn');
    const queue = createRedisStreamQueue({
      url,
      stream: newStream(),
      allowVolatile,
      redisOptions: { connectionName: name },
    });
    await queue.pending();
    const line = async () =>
      ((await admin.client('LIST')) as string).split('\n').find((l) => l.includes(` name=${name} `));
    expect(await line()).toMatch(/ resp=2( |$)/);
    await queue.close();
    expect(await line()).toBeUndefined();
    const client = borrowed({})();
    const lent = createRedisStreamQueue({ redis: client, stream: newStream(), allowVolatile });
    await lent.close();
    expect(await client.ping()).toBe('PONG');
    await client.quit();
  });

  it.each([
    ['neither url nor redis', {}],
    ['both url and redis', { url, redis: admin }],
    ['claimIdleMs 0', { url, claimIdleMs: 0 }],
    ['an empty group', { url, group: '' }],
    ['a dead-letter stream equal to the stream', { url, stream: 's', deadLetterStream: 's' }],
  ])('refuses %s (INVALID_CONFIG)', async (_, options) => {
    const error = await strataRejection((async () => createRedisStreamQueue(options))());
    expect(isStrataError(error, 'INVALID_CONFIG')).toBe(true);
  });
});
