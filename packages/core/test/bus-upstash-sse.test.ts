import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort, startUpstashServer } from '@strata/devstack';
import { serviceUrls, testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isStrataError } from '../src/errors.js';
import { createUpstashSseBus, type UpstashSseBusOptions } from '../src/upstash/index.js';
import {
  type BusFixture,
  busProbe,
  describeBusConformance,
  receivedIds,
  sampleInvalidation,
} from '../testing/index.js';

function upstash(): { url: string; token: string } {
  const endpoint = testDevstack().upstash;
  if (endpoint === undefined) throw new Error('the devstack serves no Upstash endpoint (is Redis down?)');
  return endpoint;
}

/** A plain client for raw PUBLISHes and checks, outside the buses under test. */
const admin = new Redis({ ...upstash(), automaticDeserialization: false, enableAutoPipelining: false });

describeBusConformance('upstash sse', async (): Promise<BusFixture> => {
  const channel = uniqueName('bus_sse');
  const a = createUpstashSseBus({ ...upstash(), channel });
  const b = createUpstashSseBus({ ...upstash(), channel });
  return {
    a,
    b,
    deliver: async () => {},
    injectRaw: async (payload) => {
      await admin.publish(channel, payload);
    },
    cleanup: async () => {
      await Promise.all([a.close(), b.close()]);
    },
  };
});

const WAIT = { timeout: 5_000, interval: 10 };
const fast: Partial<UpstashSseBusOptions> = { reconnectDelayMs: { min: 20, max: 200 } };

async function subscribers(channel: string): Promise<number> {
  const reply = await admin.exec<[string, number]>(['PUBSUB', 'NUMSUB', channel]);
  return Number(reply[1]);
}

/** Timers alive in this process: close() must leave none of its own behind. */
const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

describe('upstash sse bus specifics', () => {
  it('reconnects after the endpoint closes the stream, calls gap(), and messages flow again', async () => {
    const port = await freePort();
    const redisUrl = serviceUrls().redisUrl;
    let server = await startUpstashServer({ redisUrl, token: 'sse-token', port });
    const channel = uniqueName('bus_sse_reconnect');
    const bus = createUpstashSseBus({ url: server.url, token: 'sse-token', channel, ...fast });
    const seen = busProbe();
    try {
      await bus.subscribe(seen);
      await bus.publish(sampleInvalidation('before'));
      await vi.waitFor(() => expect(receivedIds(seen)).toEqual(['before']), WAIT);
      await server.stop();
      server = await startUpstashServer({ redisUrl, token: 'sse-token', port });
      await vi.waitFor(() => expect(seen.gaps).toBe(1), WAIT);
      await bus.publish(sampleInvalidation('after'));
      await vi.waitFor(() => expect(receivedIds(seen)).toEqual(['before', 'after']), WAIT);
      expect(bus.stats()).toMatchObject({ gaps: 1, received: 2, dropped: 0 });
    } finally {
      await bus.close();
      await server.stop();
    }
  });

  it('close() ends the subscription on the server and leaves no timer', async () => {
    const channel = uniqueName('bus_sse_close');
    const idle = timers();
    const bus = createUpstashSseBus({ ...upstash(), channel });
    await bus.subscribe(busProbe());
    expect(await subscribers(channel)).toBe(1);
    await bus.close();
    await bus.close();
    expect(timers()).toBeLessThanOrEqual(idle);
    await vi.waitFor(async () => expect(await subscribers(channel)).toBe(0), WAIT);
  });

  it('a channel with commas and colons, and a payload split over lines, are read right', async () => {
    const channel = `${uniqueName('bus_sse_commas')}:a,b,c`;
    const bus = createUpstashSseBus({ ...upstash(), channel });
    const seen = busProbe();
    try {
      await bus.subscribe(seen);
      // The endpoint sends a payload with line breaks as several data lines: the first is
      // dropped as malformed, the rest are not messages at all.
      await admin.publish(channel, '{"schema":\n"users"}');
      await bus.publish(sampleInvalidation('x,y'));
      await vi.waitFor(() => expect(receivedIds(seen)).toEqual(['x,y']), WAIT);
      expect(bus.stats()).toMatchObject({ dropped: 1, received: 1 });
    } finally {
      await bus.close();
    }
  });

  it('a wrong token: subscribe() rejects with L2_UNAVAILABLE; close() stops the retries', async () => {
    const idle = timers();
    const bus = createUpstashSseBus({
      url: upstash().url,
      token: 'wrong',
      channel: uniqueName('sse'),
      ...fast,
    });
    const error = await bus.subscribe(busProbe()).catch((e: unknown) => e);
    expect(isStrataError(error, 'L2_UNAVAILABLE')).toBe(true);
    expect(String((error as Error).cause)).toMatch(/401/);
    await bus.close();
    expect(timers()).toBeLessThanOrEqual(idle);
  });

  describe('an endpoint that accepts and never answers', () => {
    let server: Server;
    let url: string;
    const requests: IncomingMessage[] = [];

    beforeAll(async () => {
      server = createServer((req) => requests.push(req));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('times out the connect, retries, and close() aborts the request in flight', async () => {
      const bus = createUpstashSseBus({ url, token: 't', channel: 'c', connectTimeoutMs: 100, ...fast });
      const started = performance.now();
      const error = await bus.subscribe(busProbe()).catch((e: unknown) => e);
      expect(performance.now() - started).toBeGreaterThanOrEqual(95);
      expect(isStrataError((error as Error).cause, 'TIMEOUT')).toBe(true);
      await vi.waitFor(() => expect(requests.length).toBeGreaterThanOrEqual(2), WAIT);
      expect(requests[0]?.headers).toMatchObject({ accept: 'text/event-stream', authorization: 'Bearer t' });
      expect(requests[0]?.url).toBe('/subscribe/c');
      await bus.close();
      await vi.waitFor(() => expect(requests.every((req) => req.destroyed)).toBe(true), WAIT);
    });
  });
});
