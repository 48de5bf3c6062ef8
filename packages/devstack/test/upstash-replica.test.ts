import { Redis } from '@upstash/redis';
import { Redis as TcpRedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisReplica, startRedisReplica } from '../src/redis-replica/start.js';
import type { UpstashEndpoint } from '../src/types.js';
import { startUpstashServer } from '../src/upstash/server.js';

// One REST endpoint over a real primary/replica pair, as an Upstash global database: the real
// @upstash/redis client (readYourWrites on, its default) reads its own writes through the token.
const token = 'test-token-replica';
let pair: RedisReplica;
let endpoint: UpstashEndpoint;
let primary: TcpRedis;
let replica: TcpRedis;

beforeAll(async () => {
  pair = await startRedisReplica();
  endpoint = await startUpstashServer({
    redisUrl: pair.primary.url,
    replicaUrl: pair.replica.url,
    token,
    replicaWaitMs: 30,
  });
  primary = new TcpRedis(pair.primary.url, { protocol: 2 });
  replica = new TcpRedis(pair.replica.url, { protocol: 2, maxRetriesPerRequest: 0 });
  for (const c of [primary, replica]) c.on('error', () => {});
}, 30_000);

afterAll(async () => {
  await endpoint?.stop();
  primary?.disconnect();
  replica?.disconnect();
  await pair?.stop();
});

const client = () =>
  new Redis({ url: endpoint.url, token, enableTelemetry: false, enableAutoPipelining: false, retry: false });

/** Calls of `command` a server has run so far (INFO commandstats). */
async function calls(server: TcpRedis, command: string): Promise<number> {
  const info = (await server.info('commandstats')) as string;
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
}

const counts = async () => ({ primary: await calls(primary, 'mget'), replica: await calls(replica, 'mget') });

describe('an Upstash REST endpoint with a replica', () => {
  it('answers a write with the primary offset as the token; the writer reads it while replication is held', async () => {
    const writer = client();
    const other = client();
    await writer.set('rep:k', 'v1');
    expect(Number(writer.readYourWritesSyncToken)).toBeGreaterThan(0);
    await pair.caughtUp();
    expect(await other.mget('rep:k')).toEqual(['v1']);

    pair.holdReplication();
    try {
      await writer.set('rep:k', 'v2');
      const before = await counts();
      expect(await writer.mget('rep:k')).toEqual(['v2']);
      const afterWriter = await counts();
      // The replica was asked (it is behind the token) until the wait ran out; the primary answered.
      expect(afterWriter.primary).toBe(before.primary + 1);
      expect(afterWriter.replica).toBeGreaterThan(before.replica);
      // A client that has not written reads the replica: its older value.
      expect(await other.mget('rep:k')).toEqual(['v1']);
      expect(await counts()).toEqual({ primary: afterWriter.primary, replica: afterWriter.replica + 1 });
    } finally {
      await pair.releaseReplication();
    }
    const before = await counts();
    expect(await writer.mget('rep:k')).toEqual(['v2']);
    expect(await counts()).toEqual({ primary: before.primary, replica: before.replica + 1 });
  });

  it('a read answered by the replica never hands back a token lower than the one sent', async () => {
    const writer = client();
    await writer.set('rep:t', '1');
    const written = Number(writer.readYourWritesSyncToken);
    await pair.caughtUp();
    await writer.get('rep:t');
    expect(Number(writer.readYourWritesSyncToken)).toBeGreaterThanOrEqual(written);
    // An error answer moves nothing: the client keeps its token.
    await expect(writer.eval('return redis.error_reply("refused")', [], [])).rejects.toThrow(/refused/);
    expect(Number(writer.readYourWritesSyncToken)).toBeGreaterThanOrEqual(written);
  });

  it('with the replica down, reads are answered by the primary', async () => {
    const writer = client();
    await writer.set('rep:d', 'x');
    await pair.stopReplica();
    expect(await client().mget('rep:d', 'rep:none')).toEqual(['x', null]);
    expect(await writer.get('rep:d')).toBe('x');
  });
});
