/**
 * A replicated write on a Cluster (`execThenWait`: the script and WAIT in one pipeline) is sent
 * again after MOVED, but never later than its retry window: the caller (Strata, at `timeouts.l2`)
 * reports "nothing was written" once it gives up, and a write sent after that would land unseen,
 * at a version newer than writes acknowledged meanwhile. MOVED is made on purpose: an empty slot is
 * handed to another master behind the client's back (its slot map stays stale until the MOVED).
 */
import { type RedisCluster, startRedisCluster } from '@strata/devstack/redis-cluster';
import { uniqueName } from '@strata/devstack/testing';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { hashSlot, masterFor } from '../src/redis-tcp/cluster-slots.js';
import { execThenWait } from '../src/redis-tcp/replicated-pipeline.js';
import { ClusterClients } from './support/cluster-client.js';

const name = uniqueName('cluster_retry');
const ack = { replicas: 1, timeoutMs: 250 };

let cluster: RedisCluster;
const clients = new ClusterClients(() => cluster);

beforeAll(async () => {
  cluster = await startRedisCluster();
}, 30_000);

afterAll(async () => {
  await clients.quitAll();
  await cluster?.stop();
});

/** Hands `key`'s (empty) slot from its master to another one; the client is not told. */
async function moveSlot(client: Cluster, key: string): Promise<{ from: Redis; to: Redis }> {
  const from = await masterFor(client, key);
  const to = client.nodes('master').find((node) => node.options.port !== from.options.port)!;
  const [fromId, toId] = await Promise.all([from.call('CLUSTER', 'MYID'), to.call('CLUSTER', 'MYID')]);
  const slot = hashSlot(key);
  await to.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId as string);
  await from.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId as string);
  await to.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId as string);
  await from.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId as string);
  return { from, to };
}

// No periodic slot refresh: the client learns of the move from the MOVED reply only.
const openClient = () => clients.open({ slotsRefreshInterval: 3_600_000 });

it('after MOVED, the pipeline is sent again to the new master (within the window): the write runs once', async () => {
  const client = openClient();
  const key = `{${name}_a}:n`;
  const { to } = await moveSlot(client, key);
  const replies = await execThenWait(client, (p) => p.incr(key), ack);
  expect(replies.map(([error]) => error)).toEqual([null, null]);
  expect(replies[0]![1]).toBe(1);
  expect(replies[1]![1]).toBe(1); // WAIT: the new master's replica has it
  expect(await to.get(key)).toBe('1');
  await to.del(key);
});

it('past its retry window it is not sent again: MOVED reaches the caller and the write never runs', async () => {
  const client = openClient();
  const key = `{${name}_b}:n`;
  const { to } = await moveSlot(client, key);
  const replies = await execThenWait(client, (p) => p.incr(key), ack, 0);
  expect(String(replies[0]![0])).toMatch(/^ReplyError: MOVED /);
  // Nothing runs later either: the client now knows the slot's master, and a probe on the same
  // connection (after anything queued before it) finds no write.
  expect(await client.get(key)).toBeNull();
  expect(await to.get(key)).toBeNull();
});
