import type { L2Script } from '@strata/core/driver';
import { describeL2Conformance, type L2Fixture } from '@strata/core/testing';
import { type RedisReplica, startRedisReplica } from '@strata/devstack/redis-replica';
import { uniqueName } from '@strata/devstack/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createIoredisL2 } from '../src/redis-tcp/l2.js';
import type { IoredisReplicaL2 } from '../src/redis-tcp/replica-options.js';

// The L2 over a real primary and a real `redis-server --replicaof` (startRedisReplica), the
// replication stream held on the wire to make the replica lag on purpose.
let pair: RedisReplica;
let admin: Redis;
let replicaAdmin: Redis;

beforeAll(async () => {
  pair = await startRedisReplica();
  admin = new Redis(pair.primary.url, { protocol: 2 });
  replicaAdmin = new Redis(pair.replica.url, { protocol: 2, maxRetriesPerRequest: 0 });
  for (const c of [admin, replicaAdmin]) c.on('error', () => {});
}, 30_000);

afterAll(async () => {
  admin?.disconnect();
  replicaAdmin?.disconnect();
  await pair?.stop();
});

/** Calls of `command` a server has run so far (INFO commandstats): MGETs per server, no MONITOR. */
async function calls(server: Redis, command: string): Promise<number> {
  const info = (await server.info('commandstats')) as string;
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
}

describeL2Conformance('ioredis with a replica', async () => {
  const prefix = `${uniqueName('l2replica')}:`;
  const tier = createIoredisL2(pair.primary.url, { replica: pair.replica.url });
  const fixture: L2Fixture = {
    tier,
    prefix,
    raw: {
      get: (key) => admin.get(key),
      // Written past the tier, so no token covers it: on the replica before the tier reads it.
      set: async (key, value) => {
        await admin.set(key, value);
        await admin.wait(1, 2_000);
      },
      pttl: (key) => admin.pttl(key),
      scriptExists: async (sha1) => ((await admin.script('EXISTS', sha1)) as number[])[0] === 1,
    },
    // ROLE rides along with each command, in the same write: a round trip is any other command.
    // Counted with the replica in sync: a read right after a write while it lags costs one more
    // (the primary's), as it should, and replication is asynchronous even on loopback.
    roundTrips: async (during) => {
      await pair.caughtUp();
      const spy = vi.spyOn(Redis.prototype, 'sendCommand');
      try {
        await during();
        return spy.mock.calls.filter(([command]) => command.name.toLowerCase() !== 'role').length;
      } finally {
        spy.mockRestore();
      }
    },
    cleanup: () => tier.close(),
  };
  return fixture;
});

const SET: L2Script = { name: 'set', source: "return redis.call('SET', KEYS[1], ARGV[1])" };

describe('read-your-writes over a lagging replica', () => {
  const key = `${uniqueName('rr')}:row`;
  let writer: IoredisReplicaL2;
  let other: IoredisReplicaL2;

  beforeAll(async () => {
    writer = createIoredisL2(pair.primary.url, { replica: pair.replica.url });
    other = createIoredisL2(pair.primary.url, { replica: pair.replica.url });
    await writer.run(SET, [key], ['v1']);
    await pair.caughtUp();
    // Both connections up (a replica not connected yet is skipped, which is not what this tests).
    expect(await other.getMany([key])).toEqual(['v1']);
    expect(await writer.getMany([key])).toEqual(['v1']);
  });

  afterAll(async () => {
    await writer?.close();
    await other?.close();
  });

  it('the writer reads its write from the primary while replication is held; another instance reads the replica', async () => {
    pair.holdReplication();
    try {
      await writer.run(SET, [key], ['v2']);
      const [primaryBefore, replicaBefore] = [await calls(admin, 'mget'), await calls(replicaAdmin, 'mget')];
      const writerBefore = writer.stats();
      const otherBefore = other.stats();

      expect(await writer.getMany([key])).toEqual(['v2']);
      // The other instance wrote nothing: the replica's older row is what it may read.
      expect(await other.getMany([key])).toEqual(['v1']);

      expect(writer.stats().primary.behind).toBe(writerBefore.primary.behind + 1);
      expect(writer.stats().replica).toBe(writerBefore.replica);
      expect(other.stats().replica).toBe(otherBefore.replica + 1);
      // Two MGETs on the replica (both asked it; the writer's was behind), one on the primary.
      expect(await calls(replicaAdmin, 'mget')).toBe(replicaBefore + 2);
      expect(await calls(admin, 'mget')).toBe(primaryBefore + 1);
    } finally {
      await pair.releaseReplication();
    }
    const before = writer.stats().replica;
    expect(await writer.getMany([key])).toEqual(['v2']);
    expect(await other.getMany([key])).toEqual(['v2']);
    expect(writer.stats().replica).toBe(before + 1);
  });

  it("a read that saw the primary's newer data is never followed by an older replica read (monotonic)", async () => {
    pair.holdReplication();
    try {
      await writer.run(SET, [key], ['v3']);
      // `other` reads the primary once (as after a replica failure): from then on it waits for v3 too.
      expect(await other.getMany([key])).toEqual(['v2']);
      const raised = other.stats().token;
      await other.run({ name: 'get', source: "return redis.call('GET', KEYS[1])" }, [key], []);
      expect(other.stats().token).toBeGreaterThan(raised);
      expect(await other.getMany([key])).toEqual(['v3']);
      expect(other.stats().primary.behind).toBeGreaterThan(0);
    } finally {
      await pair.releaseReplication();
    }
  });

  it('a replica that stops answering: reads time out to the primary, then the breaker skips it until its cooldown', async () => {
    const errors: unknown[] = [];
    const slow = createIoredisL2(pair.primary.url, {
      replica: pair.replica.url,
      readTimeoutMs: 50,
      breaker: { failureThreshold: 2, cooldownMs: 300 },
      onReplicaError: (error) => errors.push(error),
    });
    try {
      await slow.run(SET, [key], ['v-slow']);
      await pair.caughtUp();
      expect(await slow.getMany([key])).toEqual(['v-slow']);
      expect(slow.stats().replica).toBe(1);
      // Every client of the replica waits (a stalled server, as far as a client can tell): its own
      // timer ends the pause, so nothing has to reach it to undo it.
      await replicaAdmin.call('CLIENT', 'PAUSE', '1000', 'ALL');
      for (let i = 0; i < 4; i++) expect(await slow.getMany([key])).toEqual(['v-slow']);
      expect(slow.stats().primary).toEqual({ behind: 0, failed: 2, skipped: 2 });
      expect(slow.stats().breaker).toBe('open');
      expect(errors).toHaveLength(2);
      expect(errors[0]).toMatchObject({ code: 'TIMEOUT' });
      // Answered once the pause is over; by then the cooldown has passed: the replica is read again.
      await replicaAdmin.ping();
      expect(await slow.getMany([key])).toEqual(['v-slow']);
      expect(slow.stats().replica).toBe(2);
      expect(slow.stats().breaker).toBe('closed');
    } finally {
      await slow.close();
    }
  });

  it('with the replica down, reads go to the primary without an error', async () => {
    await writer.run(SET, [key], ['v4']);
    await pair.stopReplica();
    const before = writer.stats().primary;
    const values = await Promise.all([writer.getMany([key]), other.getMany([key, `${key}:none`])]);
    expect(values).toEqual([['v4'], ['v4', null]]);
    const after = writer.stats().primary;
    expect(after.skipped + after.failed).toBe(before.skipped + before.failed + 1);
  });
});
