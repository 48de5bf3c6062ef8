import { type LostReplyProxy, startLostReplyProxy } from '@strata/devstack';
import { serviceUrls, testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { eq } from 'drizzle-orm';
import { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../src/driver.js';
import { defineSchema, isStrataError, Strata } from '../src/index.js';
import { TAKE_LEASES } from '../src/l2/scripts.js';
import type { L2Script } from '../src/l2/types.js';
import { createUpstashL2, createUpstashLogBus } from '../src/upstash/index.js';
import { busProbe, sampleInvalidation } from '../testing/bus-probe.js';
import { type EngineStack, engineStack } from './support/stack.js';

// The real @upstash/redis client, built by Strata, against the devstack's Upstash REST (real Redis)
// through a loopback proxy that lets the server run a command and then drops the connection before
// the reply reaches the client: its fetch throws. @upstash/redis 1.39 maps `retry: false` to one
// retry, so a command whose reply was lost ran twice. Each command must reach Redis once.

let stack: EngineStack;
let proxy: LostReplyProxy;
let admin: IORedis;
let upstash: { url: string; token: string };
const prefix = uniqueName('lost_reply');

beforeAll(async () => {
  stack = await engineStack('lost_reply');
  const migrator = new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] });
  await migrator.migrate();
  await migrator.close();
  upstash = testDevstack().upstash!;
  proxy = await startLostReplyProxy(upstash.url);
  admin = new IORedis(serviceUrls().redisUrl, { protocol: 2 });
});
/** Closed before the stack is dropped, also when a test failed before closing its own. */
const instances: Strata[] = [];

afterAll(async () => {
  await Promise.all(instances.map((s) => s.close()));
  await proxy?.close();
  const keys = await admin.keys(`${prefix}*`);
  if (keys.length > 0) await admin.del(...keys);
  admin.disconnect();
  await stack?.cleanup();
});

const COUNT: L2Script = { name: 'count', source: "return redis.call('INCR', KEYS[1])" };

describe('a command whose reply is lost reaches Redis once', () => {
  it('createUpstashL2: a script (EVALSHA) runs once and the call fails', async () => {
    const key = `${prefix}:count`;
    await admin.script('LOAD', COUNT.source); // EVALSHA runs it at once (no NOSCRIPT round)
    const l2 = createUpstashL2({ url: proxy.url, token: upstash.token });
    proxy.loseRepliesTo(key);
    // The call fails (its outcome is unknown to the caller) and the counter moved once, not twice.
    const outcome = await l2.run(COUNT, [key], []).then(
      (reply) => `resolved ${reply}`,
      () => 'rejected',
    );
    expect({ outcome, counter: await admin.get(key), lost: proxy.lost }).toEqual({
      outcome: 'rejected',
      counter: '1',
      lost: 1,
    });
  });

  it('createUpstashLogBus: a publish (XADD) lands once', async () => {
    const stream = `${prefix}:log`;
    const bus = createUpstashLogBus({ url: proxy.url, token: upstash.token, stream });
    await bus.subscribe(busProbe());
    proxy.loseRepliesTo(stream);
    const outcome = await bus.publish(sampleInvalidation('lost')).then(
      () => 'resolved',
      () => 'rejected',
    );
    expect({ outcome, entries: await admin.xlen(stream) }).toEqual({ outcome: 'rejected', entries: 1 });
    await bus.close();
  });
});

describe('what a resent command did to Strata', () => {
  it('a stale row is refreshed although the reply of its refresh lease was lost', async () => {
    // TAKE_LEASES is SET NX: sent again, the lease this instance just took answers "taken by
    // another", so no instance refreshed the row for the whole lease (up to the L3 timeout).
    await admin.script('LOAD', TAKE_LEASES.source);
    const clock = manualClock();
    const schema = defineSchema({
      table: stack.tables.players,
      l1: { ttl: '10s' },
      l2: { ttl: '10s' },
      stale: '1m',
    });
    const strata = new Strata({
      l2: createUpstashL2({ url: proxy.url, token: upstash.token }),
      l3: stack.l3,
      clock,
      keyPrefix: `${prefix}a`,
      schemas: [schema],
    });
    instances.push(strata);
    const players = stack.tables.players;
    await strata.set(schema, { id: 'swr-1', username: 'before' });
    await stack.db.update(players).set({ username: 'after' }).where(eq(players.id, 'swr-1'));
    clock.advance(11_000);
    proxy.loseRepliesTo(':lease:');
    expect((await strata.get(schema, 'swr-1')).username).toBe('before');
    await strata.settled();
    const { refreshes, refreshesLeased } = strata.stats();
    // The next read answers what Postgres holds: the refresh ran.
    expect({ refreshes, refreshesLeased, now: (await strata.get(schema, 'swr-1')).username }).toEqual({
      refreshes: 1,
      refreshesLeased: 0,
      now: 'after',
    });
  });
});

describe('a client handed in', () => {
  const warnings = (l2: ReturnType<typeof createUpstashL2>) => {
    const seen: string[] = [];
    const log = () => {};
    instances.push(
      new Strata({ l2, logger: { debug: log, info: log, error: log, warn: (m) => void seen.push(m) } }),
    );
    return seen;
  };

  it('is used as it is; one whose retries would resend a command is said once through the logger', () => {
    const built = (retry?: false | { retries: number }) =>
      new Redis({ ...upstash, ...(retry !== undefined && { retry }), enableAutoPipelining: false });
    expect(warnings(createUpstashL2(built()))).toEqual([
      'upstash: the client sends a command again (5x) when a fetch fails, which runs it twice if the reply was lost: build it with retry: { retries: 0 }',
    ]);
    expect(warnings(createUpstashL2(built(false)))[0]).toContain('(1x)');
    expect(warnings(createUpstashL2(built({ retries: 0 })))).toEqual([]);
    // Built by Strata, `retry: false` included: one fetch, nothing to say.
    expect(warnings(createUpstashL2({ ...upstash }))).toEqual([]);
    expect(warnings(createUpstashL2({ ...upstash, retry: false }))).toEqual([]);
  });

  it('with an aborted signal fails each call, where the client answers "Aborted" as the reply', async () => {
    const controller = new AbortController();
    const redis = new Redis({
      ...upstash,
      retry: { retries: 0 },
      enableAutoPipelining: false,
      responseEncoding: false,
      signal: controller.signal,
    });
    const l2 = createUpstashL2(redis);
    const key = `${prefix}:aborted`;
    controller.abort('gone');
    expect(await redis.eval(COUNT.source, [key], [])).toBe('gone'); // the client's own answer
    for (const call of [() => l2.run(COUNT, [key], []), () => l2.getMany([key])]) {
      const error = await call().catch((e: unknown) => e);
      expect(isStrataError(error, 'L2_UNAVAILABLE'), String(error)).toBe(true);
    }
    expect(await admin.get(key)).toBeNull();
  });
});
