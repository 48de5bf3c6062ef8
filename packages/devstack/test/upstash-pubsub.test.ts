import { Redis } from '@upstash/redis';
import { Redis as Direct } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { serviceUrls, uniqueName } from '../src/testing/env.js';
import type { UpstashEndpoint } from '../src/types.js';
import { startUpstashServer } from '../src/upstash/server.js';

const token = 'test-token-pubsub';
const prefix = `${uniqueName('upstash_pubsub')}:`;
let endpoint: UpstashEndpoint;
let redis: Redis;
let plain: Redis;
/** Straight to Redis: CLIENT LIST is not something the REST endpoint serves. */
let observer: Direct;

beforeAll(async () => {
  endpoint = await startUpstashServer({ redisUrl: serviceUrls().redisUrl, token });
  redis = new Redis({ url: endpoint.url, token, enableTelemetry: false });
  plain = new Redis({ url: endpoint.url, token, enableTelemetry: false, automaticDeserialization: false });
  observer = new Direct(serviceUrls().redisUrl);
});

afterAll(async () => {
  if (redis) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  await endpoint?.stop();
  observer?.disconnect();
});

/** Subscribers Redis counts on a channel: proves the server's dedicated connection exists, or is gone. */
async function numsub(channel: string): Promise<number> {
  const reply = (await plain.exec(['PUBSUB', 'NUMSUB', channel])) as [string, number];
  return reply[1];
}

type Subscription = ReturnType<Redis['subscribe']>;
type SubscriptionEvent = 'subscribe' | 'psubscribe' | 'message' | 'pmessage';

/** Resolves with the first event of `type`; rejects on a subscriber error. */
function next<T>(subscriber: Subscription, type: SubscriptionEvent): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    subscriber.on('error', reject);
    subscriber.on(type, (event: unknown) => resolve(event as T));
  });
}

describe('subscribe over SSE', () => {
  it('receives a published message and releases the Redis subscriber on unsubscribe', async () => {
    const channel = `${prefix}${uniqueName('chan')}`;
    const subscriber = redis.subscribe<{ hello: string }>(channel);
    const subscribed = next<number>(subscriber, 'subscribe');
    const message = next<{ channel: string; message: unknown }>(subscriber, 'message');
    expect(await subscribed).toBe(1);
    expect(await numsub(channel)).toBe(1);

    expect(await redis.publish(channel, { hello: 'world' })).toBe(1);
    expect(await message).toEqual({ channel, message: { hello: 'world' } });

    await subscriber.unsubscribe();
    await vi.waitFor(async () => expect(await numsub(channel)).toBe(0));
  });

  it('delivers unicode payloads as text, in order', async () => {
    const channel = `${prefix}${uniqueName('uni')}`;
    const subscriber = plain.subscribe<string>(channel);
    const payloads = ['héllo 😀', '中文, with commas', '{"json":true}', 'NUL\u0000byte'];
    const received: unknown[] = [];
    const all = new Promise<void>((resolve, reject) => {
      subscriber.on('error', reject);
      subscriber.on('message', (event: unknown) => {
        received.push((event as { message: unknown }).message);
        if (received.length === payloads.length) resolve();
      });
    });
    await next<number>(subscriber, 'subscribe');
    for (const payload of payloads) await plain.publish(channel, payload);
    await all;
    expect(received).toEqual(payloads);
    await subscriber.unsubscribe();
  });

  it('psubscribe receives pmessage with pattern and channel', async () => {
    const scope = `${prefix}${uniqueName('pat')}`;
    // The client JSON.parses pmessage payloads without a fallback (unlike message), so publish JSON here.
    const subscriber = redis.psubscribe<{ order: number }>(`${scope}:*`);
    const subscribed = next<number>(subscriber, 'psubscribe');
    const message = next<{ pattern: string; channel: string; message: unknown }>(subscriber, 'pmessage');
    expect(await subscribed).toBe(1);

    expect(await redis.publish(`${scope}:orders`, { order: 7 })).toBe(1);
    expect(await message).toEqual({
      pattern: `${scope}:*`,
      channel: `${scope}:orders`,
      message: { order: 7 },
    });

    await subscriber.unsubscribe();
    // Nothing lists pattern subscribers by pattern, but a publish reports how many clients received it.
    await vi.waitFor(async () => expect(await redis.publish(`${scope}:orders`, { order: 8 })).toBe(0));
  });

  it('raw SSE lines match what the client parses', async () => {
    const channel = `${prefix}${uniqueName('raw')}`;
    const controller = new AbortController();
    const response = await fetch(`${endpoint.url}/subscribe/${channel}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${needle}: ${text}`);
        text += decoder.decode(value, { stream: true });
      }
    };
    await readUntil('\n\n');
    expect(text).toBe(`data: subscribe,${channel},1\n\n`);
    await redis.publish(channel, 'payload,with,commas');
    await readUntil('commas\n\n');
    expect(text).toBe(`data: subscribe,${channel},1\n\ndata: message,${channel},payload,with,commas\n\n`);
    controller.abort();
    await vi.waitFor(async () => expect(await numsub(channel)).toBe(0));
  });

  it('rejects a subscribe without the token', async () => {
    const response = await fetch(`${endpoint.url}/subscribe/${prefix}x`, { method: 'POST' });
    expect(response.status).toBe(401);
  });
});

describe('streams', () => {
  it('xadd / xread', async () => {
    const stream = `${prefix}${uniqueName('stream')}`;
    const first = await redis.xadd(stream, '*', { kind: 'created', n: 1 });
    const second = await redis.xadd(stream, '*', { kind: 'paid', who: '😀' });
    expect(first).toMatch(/^\d+-\d+$/);
    const read = await plain.xread(stream, '0');
    expect(read).toEqual([
      [
        stream,
        [
          [first, ['kind', 'created', 'n', '1']],
          [second, ['kind', 'paid', 'who', '😀']],
        ],
      ],
    ]);
    expect(await plain.xread(stream, second)).toBeNull();
  });

  it('xread with BLOCK waits for an entry added by another request', async () => {
    const stream = `${prefix}${uniqueName('blockstream')}`;
    const seed = await plain.xadd(stream, '*', { seed: '0' });
    // From the seed id rather than '$': the result cannot depend on whether XREAD reached Redis first.
    const waiting = plain.xread(stream, seed, { blockMS: 10_000 });
    // The XREAD must be parked in Redis before the entry is added, or it would not be waiting for it.
    await vi.waitFor(async () => {
      const clients = (await observer.client('LIST')) as string;
      expect(clients).toMatch(/name=strata-upstash-blocking .*cmd=xread/);
    });
    const id = await plain.xadd(stream, '*', { late: 'entry' });
    expect(await waiting).toEqual([[stream, [[id, ['late', 'entry']]]]]);
  });
});
