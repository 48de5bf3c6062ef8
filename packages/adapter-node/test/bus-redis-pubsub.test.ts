import {
  type BusFixture,
  busProbe,
  describeBusConformance,
  receivedIds,
  sampleInvalidation,
} from '@strata/core/testing';
import { freePort } from '@strata/devstack';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createRedisPubSubBus } from '../src/redis-tcp/bus.js';

const admin = new Redis(serviceUrls().redisUrl, { protocol: 2 });
admin.on('error', () => {});
afterAll(async () => {
  await admin.quit();
});

describeBusConformance('redis pub/sub, connections opened from a URL', async (): Promise<BusFixture> => {
  const channel = uniqueName('bus_pubsub');
  const a = createRedisPubSubBus({ url: serviceUrls().redisUrl, channel });
  const b = createRedisPubSubBus({ url: serviceUrls().redisUrl, channel });
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

// ioredis 6 defaults to RESP3: a publisher handed in that way must work, and its duplicate too.
describeBusConformance('redis pub/sub, a RESP3 publisher handed in', async (): Promise<BusFixture> => {
  const channel = uniqueName('bus_pubsub_resp3');
  const clients = [new Redis(serviceUrls().redisUrl), new Redis(serviceUrls().redisUrl)];
  const [a, b] = clients.map((redis) => createRedisPubSubBus({ redis, channel })) as [
    ReturnType<typeof createRedisPubSubBus>,
    ReturnType<typeof createRedisPubSubBus>,
  ];
  return {
    a,
    b,
    deliver: async () => {},
    injectRaw: async (payload) => {
      await admin.publish(channel, payload);
    },
    cleanup: async () => {
      await Promise.all([a.close(), b.close()]);
      await Promise.all(clients.map((client) => client.quit()));
    },
  };
});

const WAIT = { timeout: 5_000, interval: 10 };

/** The `CLIENT LIST` lines of the connections named `name`. */
async function clientLines(name: string): Promise<string[]> {
  const list = (await admin.client('LIST')) as string;
  return list.split('\n').filter((line) => line.includes(` name=${name} `));
}

describe('redis pub/sub bus specifics', () => {
  it('a dropped subscriber connection comes back, then gap(), then messages flow again', async () => {
    const connectionName = uniqueName('bus_pubsub_gap');
    const bus = createRedisPubSubBus({
      url: serviceUrls().redisUrl,
      channel: connectionName,
      redisOptions: { connectionName },
    });
    const seen = busProbe();
    try {
      await bus.subscribe(seen);
      await bus.publish(sampleInvalidation('before'));
      await vi.waitFor(() => expect(receivedIds(seen)).toEqual(['before']), WAIT);
      // Only this bus's subscriber: its id, and TYPE pubsub as a second guard.
      const subscriber = (await clientLines(connectionName)).find((line) => / sub=1 /.test(line));
      const id = /\bid=(\d+)/.exec(subscriber ?? '')?.[1];
      expect(id).toBeDefined();
      expect(await admin.call('CLIENT', 'KILL', 'ID', id ?? '', 'TYPE', 'pubsub')).toBe(1);
      await vi.waitFor(() => expect(seen.gaps).toBe(1), WAIT);
      await bus.publish(sampleInvalidation('after'));
      await vi.waitFor(() => expect(receivedIds(seen)).toEqual(['before', 'after']), WAIT);
      expect(bus.stats()).toMatchObject({ gaps: 1, received: 2, published: 2, dropped: 0 });
    } finally {
      await bus.close();
    }
  });

  it('owned connections speak RESP2 and close() ends both; a borrowed publisher stays open', async () => {
    const connectionName = uniqueName('bus_pubsub_conns');
    const owned = createRedisPubSubBus({
      url: serviceUrls().redisUrl,
      channel: connectionName,
      redisOptions: { connectionName, protocol: 3 },
    });
    await owned.subscribe(busProbe());
    await owned.publish(sampleInvalidation('1'));
    const lines = await clientLines(connectionName);
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toMatch(/ resp=2( |$)/);
    await Promise.all([owned.close(), owned.close()]);
    await vi.waitFor(async () => expect(await clientLines(connectionName)).toEqual([]), WAIT);

    const borrowedName = uniqueName('bus_pubsub_borrowed');
    const publisher = new Redis(serviceUrls().redisUrl, { connectionName: borrowedName });
    const borrowing = createRedisPubSubBus({ redis: publisher, channel: borrowedName });
    await borrowing.subscribe(busProbe());
    const subscriber = (await clientLines(borrowedName)).find((line) => / sub=1 /.test(line));
    expect(subscriber).toMatch(/ resp=2( |$)/);
    await borrowing.close();
    expect(publisher.status).toBe('ready');
    expect(await publisher.ping()).toBe('PONG');
    await vi.waitFor(async () => expect(await clientLines(borrowedName)).toHaveLength(1), WAIT);
    await publisher.quit();
  });

  it('Redis unreachable: subscribe() and publish() reject fast; close() does not hang', async () => {
    const port = await freePort();
    const bus = createRedisPubSubBus({ url: `redis://127.0.0.1:${port}`, channel: 'c' });
    const started = performance.now();
    await expect(bus.subscribe(busProbe())).rejects.toThrow();
    await expect(bus.publish(sampleInvalidation('1'))).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(2_000);
    await bus.close();
    expect(bus.stats()).toEqual({ published: 0, received: 0, dropped: 0, gaps: 0 });
  });
});
