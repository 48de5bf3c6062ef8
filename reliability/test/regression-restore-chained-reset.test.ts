import {
  createIoredisL2,
  createRedisPubSubBus,
  createRedisStreamQueue,
} from '@strata/adapter-node/redis-tcp';
import { clusterBuckets, Strata } from '@strata/core';
import { manualClock } from '@strata/core/driver';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { uniqueName } from '@strata/devstack/testing';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { REFRESH_PASSED, restartSuite } from '../support/restart-suite.js';
import { startTcpProxy } from '../support/tcp-proxy.js';

// An app split into two buckets (a Redis Cluster: each bucket on a shard of its own, each shard
// resetting on its own). Bucket 0's shard restarts empty: the writer finds it and puts its queued,
// acknowledged write-behind rows back (`restoreOwnPending`, the rows of every bucket), then queues
// them again. While that restore runs (its PUTs done, its queueing held by a slow queue Redis),
// bucket 1's shard restarts empty too and the writer finds it. No restore was started for it (one
// ran), and the running one had put bucket 1's rows back before that reset: they were gone from L2
// and every other instance read Postgres below the writer's acknowledged write until the flush.
// Now a reset found while a restore runs makes one more restore once it ends, and that one answers
// the later reset (`answerReset`: the first one's answer is for no later reset), so that readers
// settling after it go on rather than wait their bound.

const s = restartSuite('reg_restore_chain');

describe('a bucket reset found while a restore of another bucket runs', () => {
  it("the writer's queued rows of that bucket are put back too: the others read them before the flush", async () => {
    const clock = manualClock(Date.now());
    const keyPrefix = `${s.store.name}-chain`;
    const schema = s.store.schema('write-behind');
    const queueProxy = await startTcpProxy(Number(new URL(s.store.redisUrl).port || 6379));
    const channel = uniqueName('restore_chain_bus');
    const open = (instanceId: string, queueUrl: string) =>
      new Strata({
        instanceId,
        coherence: { bus: createRedisPubSubBus({ url: s.store.redisUrl, channel }) },
        l2: createIoredisL2(s.client()),
        l3: createDrizzleL3(s.store.db, { migrationsSchema: s.store.name }),
        clock,
        keyPrefix,
        ttl: { l1: '2s' }, // below the generation refresh: reads past it go to L2
        buckets: 2,
        bucketing: clusterBuckets,
        writeBehind: { queue: createRedisStreamQueue({ url: queueUrl, keyPrefix, allowVolatile: true }) },
        schemas: [schema],
      });
    const writer = open('writer', queueProxy.url(s.store.redisUrl));
    const other = open('other', s.store.redisUrl);
    const redis = s.client();
    // The writer's answers (`restored`), each with the Redis life it names per bucket.
    const listener = new Redis(s.store.redisUrl); // the bus's Redis
    const answers: string[][] = [];
    await listener.subscribe(channel);
    listener.on('message', (_channel: string, raw: string) => {
      const m = JSON.parse(raw) as { origin: string; restored?: true; ticks?: string[] };
      if (m.origin === 'writer' && m.restored) answers.push(m.ticks ?? []);
    });
    const boot = (tick: string | undefined) => tick?.slice(0, tick.lastIndexOf(':'));
    try {
      const ids = Array.from({ length: 8 }, (_, i) => `c${i}`);
      for (const id of ids) await writer.set(schema, { id, n: 1, label: `chain-${id}` });
      // Each id's bucket, from where its pending row sits.
      const bucketOf = async (b: number) => {
        const keys = await redis.keys(`{${keyPrefix}#${b}}:*`);
        return ids.filter((id) => keys.some((k) => k.endsWith(`:r:${id}`)));
      };
      const [inZero, inOne] = [await bucketOf(0), await bucketOf(1)];
      expect(inZero.length, 'ids in bucket 0').toBeGreaterThan(0);
      expect(inOne.length, 'ids in bucket 1').toBeGreaterThan(0);
      const resetBucket = async (b: number) => {
        const keys = await redis.keys(`{${keyPrefix}#${b}}:*`);
        if (keys.length > 0) await redis.del(...keys);
      };

      // Bucket 0's shard restarts empty; the writer's next read of it (its generation due) finds it.
      await resetBucket(0);
      clock.advance(REFRESH_PASSED);
      queueProxy.pause(); // the restore's queueing waits (after its PUTs)
      const first = writer.find(schema, inZero[0]!);
      await expect.poll(() => queueProxy.queued, { timeout: 5_000 }).toBeGreaterThan(0);
      // Bucket 1's rows were put back by this restore; then bucket 1's shard restarts empty, and the
      // writer finds it (a read of it, its generation due again) while the restore still runs.
      expect((await s.l2ValuesWith(`chain-${inOne[0]}`)).length, "bucket 1's row put back").toBe(1);
      await resetBucket(1);
      clock.advance(REFRESH_PASSED);
      const second = writer.find(schema, inOne[0]!);
      await expect.poll(() => writer.stats().errorsBy['l2-reset'], { timeout: 5_000 }).toBe(2);
      queueProxy.resume();
      expect((await first)?.n).toBe(1);
      expect((await second)?.n).toBe(1);

      // Old failure: the other instance read Postgres (null) below the writer's acknowledged write.
      for (const id of ids) {
        expect((await other.find(schema, id))?.n, `the other instance reads ${id}`).toBe(1);
      }
      // Bucket 1's reset answered, in the life it is in now, by the restore it asked for.
      const life1 = await redis.get(`{${keyPrefix}#1}:boot`);
      expect(life1).toBeTruthy();
      await expect.poll(() => answers.some((a) => boot(a[1]) === life1), { timeout: 5_000 }).toBe(true);
      expect(await s.store.stored(), 'Postgres has not had the flush').toEqual(new Map());
      await writer.flushDirty();
      expect([...(await s.store.stored()).values()]).toEqual(ids.map(() => 1));
    } finally {
      queueProxy.resume();
      await Promise.allSettled([writer.close(), other.close()]);
      await queueProxy.close();
      listener.disconnect();
    }
  });
});
