/**
 * Readiness probe for Redis Cluster (issue 18), NOT part of CI: skipped unless STRATA_CLUSTER_PROBE=1.
 * Starts a throwaway 3+3 cluster and runs the existing conformance suites of the L2, the pub/sub bus
 * and the Redis Stream queue against it through an ioredis `Cluster`. Failing cases are the finding;
 * every call the cluster refused (script, keys, slots) is written to STRATA_CLUSTER_PROBE_OUT
 * (default: <tmpdir>/strata-cluster-probe.json). See docs/cluster-notes.md.
 *
 *   STRATA_CLUSTER_PROBE=1 npx vitest run --project node packages/adapter-node/test/cluster-probe.test.ts
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { L2Script } from '@strata/core/driver';
import {
  describeBusConformance,
  describeL2Conformance,
  describeQueueConformance,
} from '@strata/core/testing';
import { type RedisCluster, startRedisCluster } from '@strata/devstack/redis-cluster';
import { uniqueName } from '@strata/devstack/testing';
import { Cluster, type Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisPubSubBus } from '../src/redis-tcp/bus.js';
import { createIoredisL2 } from '../src/redis-tcp/l2.js';
import { createRedisStreamQueue } from '../src/redis-tcp/queue.js';
import { ClusterProbeL2, clusterL2Fixture } from './support/cluster-probe.js';

const probing = process.env.STRATA_CLUSTER_PROBE === '1';
const out = process.env.STRATA_CLUSTER_PROBE_OUT ?? join(tmpdir(), 'strata-cluster-probe.json');

describe.skipIf(!probing)('Redis Cluster readiness probe', () => {
  let cluster: RedisCluster;
  const clients: Cluster[] = [];
  const tiers: Record<string, ClusterProbeL2> = {};
  const findings: Record<string, unknown> = {};

  /** A Cluster client of the probe's cluster, quit in afterAll. */
  const connect = (): Cluster => {
    const client = new Cluster(
      cluster.nodes.map(({ host, port }) => ({ host, port })),
      { redisOptions: { protocol: 2, maxRetriesPerRequest: 0 } },
    );
    client.on('error', () => {});
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    cluster = await startRedisCluster();
    findings.startedInMs = cluster.startedInMs;
  }, 30_000);

  afterAll(async () => {
    findings.refusals = Object.fromEntries(
      Object.entries(tiers).map(([name, tier]) => [name, tier.refusals]),
    );
    writeFileSync(out, `${JSON.stringify(findings, null, 2)}\n`);
    console.log(`cluster probe: findings written to ${out}`);
    await Promise.all(clients.map((client) => client.quit().catch(() => undefined)));
    await cluster?.stop();
  });

  it('createIoredisL2 handed a Cluster as it is (the type says Redis only)', async () => {
    const l2 = createIoredisL2(connect() as unknown as Redis);
    const noop: L2Script = { name: 'noop', source: 'return 1' };
    // `then(call)`: a synchronous throw is an outcome too.
    const outcome = async (call: () => Promise<unknown>) =>
      Promise.resolve()
        .then(call)
        .then(
          (value) => ({ ok: true, value }),
          (err: unknown) => ({ ok: false, error: String(err) }),
        );
    findings.createIoredisL2AsIs = {
      // The first call, before any other is out, and a second one while the first is in flight.
      getMany: await outcome(() => l2.getMany(['probe:a'])),
      concurrent: await outcome(() => Promise.all([l2.getMany(['probe:a']), l2.run(noop, ['probe:b'], [])])),
    };
    expect(findings.createIoredisL2AsIs).toBeDefined();
  });

  it('MGET over keys in different slots (what getMany sends for several rows of a schema)', async () => {
    const client = connect();
    const keys = ['probe:row:1', 'probe:row:2', 'probe:row:3'];
    const slots = await Promise.all(
      keys.map(async (key) => Number(await client.call('CLUSTER', 'KEYSLOT', key))),
    );
    const reply = await client.mget(keys).then(
      (value) => ({ ok: true, value }),
      (err: unknown) => ({ ok: false, error: String(err) }),
    );
    findings.mgetAcrossSlots = { keys, slots, reply };
    expect(new Set(slots).size).toBeGreaterThan(1);
  });

  // The conformance suite's keys, as they are (random slots): what a cluster refuses today.
  const plain = `${uniqueName('l2probe')}:`;
  describeL2Conformance('ioredis Cluster, keys as the suite names them', async () => {
    const tier = new ClusterProbeL2(connect(), plain);
    tiers.plain ??= tier;
    return clusterL2Fixture(connect(), tier, plain);
  });

  // Every key under one hash tag (one slot): do the scripts themselves run on a cluster node?
  const tagged = `{${uniqueName('l2probe')}}:`;
  describeL2Conformance('ioredis Cluster, every key under one hash tag', async () => {
    const tier = new ClusterProbeL2(connect(), tagged);
    tiers.tagged ??= tier;
    return clusterL2Fixture(connect(), tier, tagged);
  });

  describeBusConformance('redis pub/sub bus borrowing a Cluster', async () => {
    const channel = uniqueName('bus_cluster');
    const publisher = connect();
    const [a, b] = [connect(), connect()].map((redis) =>
      createRedisPubSubBus({ redis: redis as unknown as Redis, channel }),
    ) as [ReturnType<typeof createRedisPubSubBus>, ReturnType<typeof createRedisPubSubBus>];
    return {
      a,
      b,
      deliver: async () => {},
      injectRaw: async (payload) => {
        await publisher.publish(channel, payload);
      },
      cleanup: async () => {
        await Promise.all([a.close(), b.close()]);
      },
    };
  });

  describeQueueConformance('redis stream queue borrowing a Cluster, stream under a hash tag', async () => {
    // The queue's own advice for a cluster: a hash tag, so the stream and its dead letters share a slot.
    const stream = `{${uniqueName('queue_cluster')}}:writes`;
    const admin = connect();
    const open = () => createRedisStreamQueue({ redis: connect() as unknown as Redis, stream });
    const queue = open();
    const peer = open();
    return {
      queue,
      peer,
      deadLetters: () => queue.deadLetters(),
      cleanup: async () => {
        await Promise.all([queue.close(), peer.close()]);
        await admin.del(stream, queue.deadLetterStream);
      },
    };
  });
});
