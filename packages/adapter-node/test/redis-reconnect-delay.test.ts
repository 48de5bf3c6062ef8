import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@strata/devstack';
import { uniqueName } from '@strata/devstack/testing';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { connectRedisTiers } from '../src/connect/redis-tiers.js';
import { createRedisPubSubBus } from '../src/redis-tcp/bus.js';
import { createIoredisL2 } from '../src/redis-tcp/l2.js';
import { createRedisStreamQueue } from '../src/redis-tcp/queue.js';
import { killOwnRedisServers, startOwnRedis } from './support/own-redis-server.js';

// After a Redis outage of a few seconds, every connection Strata opened itself must be back within
// its reconnect cap (200 ms, reconnect-delay.ts) of Redis: a reader that found the reset waits at
// most 1 s for a write-behind writer on another instance to find it too. ioredis' default delay
// has grown to ~550 ms after 3 s down (and to 2 s later on), so instances came back far apart.
// A retryStrategy the user sets stays theirs.

const OUTAGE_MS = 3_400;
const CAP_MS = 200;
/** Connecting and the server's own start-up log on a loaded 2-core machine. */
const SLACK_MS = 150;
const USER_DELAY_MS = 1_500;
const PERSISTENCE = ['--save', '', '--appendonly', 'no'];

const dir = mkdtempSync(join(tmpdir(), 'strata-reconnect-'));
const closers: (() => Promise<void>)[] = [];

afterAll(async () => {
  await Promise.allSettled(closers.map((close) => close()));
  await killOwnRedisServers();
  rmSync(dir, { recursive: true, force: true });
});

/** The names of the clients connected to the server, from a connection of its own that does not retry. */
async function connectedNames(url: string): Promise<string[] | undefined> {
  const probe = new Redis(url, { retryStrategy: () => null, maxRetriesPerRequest: 0, lazyConnect: true });
  probe.on('error', () => {});
  try {
    await probe.connect();
    const list = (await probe.client('LIST')) as string;
    const self = (await probe.client('ID')) as number;
    return list
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith(`id=${self} `))
      .map((line) => /\bname=(\S*)/.exec(line)?.[1] ?? '');
  } catch {
    return undefined; // not up yet
  } finally {
    probe.disconnect();
  }
}

describe('Strata-made ioredis connections after a Redis outage', () => {
  it('are all back within the reconnect cap of Redis; a user retryStrategy is kept', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    let server = await startOwnRedis(dir, port, PERSISTENCE);
    const keyPrefix = uniqueName('reconnect');
    const l2 = createIoredisL2(url);
    const replicaL2 = createIoredisL2(url, { replica: url });
    const bus = createRedisPubSubBus({ url, channel: `${keyPrefix}:bus` });
    const queue = createRedisStreamQueue({ url, keyPrefix, allowVolatile: true });
    const tiers = await connectRedisTiers({
      redisUrl: url,
      writeBehind: 'redis-stream',
      buckets: 2,
      needsQueue: true,
      invalidationChannel: `${keyPrefix}:tiers`,
      keyPrefix: `${keyPrefix}.b`,
      allowVolatileQueue: true,
    });
    const userSlow = createIoredisL2(url, {
      connectionName: 'user-slow',
      retryStrategy: () => USER_DELAY_MS,
    });
    for (const tier of [l2, replicaL2, bus, queue, tiers.l2!, tiers.bus!, tiers.queue!, userSlow])
      closers.push(() => tier.close());
    await bus.subscribe({ message: () => {}, gap: () => {} });
    await l2.getMany(['warm']);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = (await connectedNames(url))!;
    const strataMade = before.filter((name) => name !== 'user-slow').length;
    // L2, replica L2 (2), bus (2), queue; the tiers' L2, bus (2) and bucketed queue.
    expect(strataMade).toBe(10);
    expect(before).toContain('user-slow');

    await server.kill();
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    server = await startOwnRedis(dir, port, PERSISTENCE);
    const up = Date.now();
    let names: string[] = [];
    while (Date.now() - up < 3_000) {
      names = (await connectedNames(url)) ?? [];
      if (names.filter((name) => name !== 'user-slow').length >= strataMade) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const backAfter = Date.now() - up;
    expect(names.filter((name) => name !== 'user-slow')).toHaveLength(strataMade);
    expect(backAfter, `all Strata-made connections back ${backAfter} ms after Redis`).toBeLessThanOrEqual(
      CAP_MS + SLACK_MS,
    );
    // Its own 1.5 s delay, not Strata's: still away when the others are back.
    expect(names).not.toContain('user-slow');
  }, 20_000);
});

describe("the bus's own subscriber connection over a borrowed client", () => {
  it("comes back within the reconnect cap when the client has ioredis' default delay; a client's own delay is kept", async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    let server = await startOwnRedis(dir, port, PERSISTENCE);
    const channel = `${uniqueName('reconnect')}:borrowed`;
    // As an app (and the reliability suites) opens its client: ioredis' own reconnect delay, which
    // grows to 5 s while Redis is down.
    const plain = new Redis(url, { maxRetriesPerRequest: 0, connectionName: 'plain' });
    const slow = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => USER_DELAY_MS });
    for (const client of [plain, slow]) {
      client.on('error', () => {});
      closers.push(async () => client.disconnect());
    }
    const gaps = { plain: 0, slow: 0 };
    let plainBack: () => void = () => {};
    const resubscribed = new Promise<void>((resolve) => {
      plainBack = resolve;
    });
    for (const [name, redis] of [
      ['plain', plain],
      ['slow', slow],
    ] as const) {
      const bus = createRedisPubSubBus({ redis, channel });
      closers.push(() => bus.close());
      const gap = () => {
        gaps[name] += 1;
        if (name === 'plain') plainBack();
      };
      await bus.subscribe({ message: () => {}, gap });
    }
    await server.kill();
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    server = await startOwnRedis(dir, port, PERSISTENCE);
    const up = Date.now();
    // Bounded: ioredis' default delay would be back within 5.2 s.
    await Promise.race([resubscribed, new Promise((resolve) => setTimeout(resolve, 6_000))]);
    const backAfter = Date.now() - up;
    expect(gaps.plain).toBe(1);
    expect(backAfter, `the bus subscribed again ${backAfter} ms after Redis`).toBeLessThanOrEqual(
      CAP_MS + SLACK_MS,
    );
    // Its client's own 1.5 s delay, not Strata's: not back yet.
    expect(gaps.slow).toBe(0);
  }, 20_000);
});
