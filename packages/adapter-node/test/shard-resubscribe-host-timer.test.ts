import { busProbe, drivenScheduler } from '@strata/core/testing';
import { type RedisCluster, startRedisCluster } from '@strata/devstack/redis-cluster';
import { uniqueName } from '@strata/devstack/testing';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { openClusterBus } from '../src/redis-tcp/bus.js';
import { masterFor } from '../src/redis-tcp/cluster-slots.js';
import { ClusterClients } from './support/cluster-client.js';

// The sharded pub/sub bus on a Redis Cluster reaches the channel's master again after losing its
// connection, with backoff: that wait runs on the timer the engine hands the bus
// (`BusHandlers.timer`: the host's `scheduler.after` when it lends one), driven here, so the test
// ends it. A real Redis Cluster; the connection is lost as when a master drops its clients.

let cluster: RedisCluster;
const clients = new ClusterClients(() => cluster);

beforeAll(async () => {
  cluster = await startRedisCluster();
}, 30_000);
afterAll(async () => {
  await clients.quitAll();
  await cluster?.stop();
});

it('waits out its resubscribe backoff on the host timer; the subscription comes back (a gap) once the test ends it', async () => {
  const driven = drivenScheduler();
  const channel = uniqueName('shard_timer');
  const client = clients.open();
  const bus = openClusterBus(client, 'borrowed', channel);
  const seen = busProbe();
  await bus.subscribe({ ...seen, timer: (ms, task) => driven.scheduler.after!(ms, task) as () => void });
  try {
    const master = await masterFor(client, channel);
    // The subscriber's connection is the only one in pub/sub mode on the channel's master.
    await master.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    const wait = await driven.next();
    expect(wait.ms).toBe(100);
    expect(seen.gaps).toBe(0);
    wait.task();
    // Subscribed again on a new connection, what was published meanwhile lost: one gap.
    await vi.waitFor(() => expect(seen.gaps).toBe(1), { timeout: 10_000, interval: 20 });
  } finally {
    await bus.close();
  }
});
