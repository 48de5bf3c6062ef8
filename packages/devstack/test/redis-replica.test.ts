import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processGroupAlive } from '../src/process-group.js';
import { roleOffset } from '../src/redis-replica/offsets.js';
import { type RedisReplica, startRedisReplica } from '../src/redis-replica/start.js';

describe('startRedisReplica', () => {
  let pair: RedisReplica;
  let primary: Redis;
  let replica: Redis;

  beforeAll(async () => {
    pair = await startRedisReplica();
    primary = new Redis(pair.primary.url, { protocol: 2 });
    replica = new Redis(pair.replica.url, { protocol: 2, maxRetriesPerRequest: 0 });
    for (const c of [primary, replica]) c.on('error', () => {});
  }, 30_000);

  afterAll(async () => {
    primary?.disconnect();
    replica?.disconnect();
    await pair?.stop();
  });

  it('starts a primary and a read-only replica on loopback ports of their own, not 6379', async () => {
    expect(pair.primary.port).not.toBe(6379);
    expect(pair.replica.port).not.toBe(pair.primary.port);
    const role = (await replica.call('ROLE')) as unknown[];
    expect(role[0]).toBe('slave');
    expect(role[3]).toBe('connected');
    await expect(replica.set('rr:refused', '1')).rejects.toThrow(/READONLY/);
  });

  it('holds replication on the wire: the replica keeps the old value and its applied offset until release', async () => {
    await primary.set('rr:k', 'old');
    await pair.caughtUp();
    expect(await replica.get('rr:k')).toBe('old');
    const before = roleOffset(await replica.call('ROLE'));

    pair.holdReplication();
    await primary.set('rr:k', 'new');
    const written = roleOffset(await primary.call('ROLE'));
    expect(written).toBeGreaterThan(before);
    // ROLE on the replica is the offset it has applied: still `before`, and its data agrees.
    expect(roleOffset(await replica.call('ROLE'))).toBe(before);
    expect(await replica.get('rr:k')).toBe('old');
    await expect(pair.caughtUp(200)).rejects.toThrow(/NOT_READY/);

    await pair.releaseReplication();
    expect(roleOffset(await replica.call('ROLE'))).toBeGreaterThanOrEqual(written);
    expect(await replica.get('rr:k')).toBe('new');
  });

  it('stopReplica stops the replica alone; stop() stops the rest and removes the dir', async () => {
    const { dir } = pair;
    await pair.stopReplica();
    expect(processGroupAlive(pair.replica.pid)).toBe(false);
    expect(await primary.ping()).toBe('PONG');
    primary.disconnect();
    await pair.stop();
    expect(processGroupAlive(pair.primary.pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });
});
