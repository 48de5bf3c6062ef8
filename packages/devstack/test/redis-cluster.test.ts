import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, type Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/net.js';
import { processGroupAlive } from '../src/process-group.js';
import { RedisClusterError } from '../src/redis-cluster/error.js';
import { killNode, startClusterNode } from '../src/redis-cluster/node.js';
import { type RedisCluster, startRedisCluster } from '../src/redis-cluster/start.js';

/** True while a process with this pid exists (EPERM: it does, someone else's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `CLUSTER SLOTS` as slot -> port of the master serving it, asked of `node`. */
async function slotOwners(node: Redis): Promise<(slot: number) => number | undefined> {
  const ranges = (await node.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]]][];
  return (slot) => ranges.find(([from, to]) => slot >= from && slot <= to)?.[2][1];
}

/** Calls `attempt` until it resolves to something `done` accepts, or throws after `ms`. */
async function within<T>(ms: number, attempt: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown = 'no attempt';
  while (Date.now() < deadline) {
    try {
      const value = await attempt();
      if (done(value)) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    // Promotion has no event a client can await: poll, bounded by the deadline.
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`not done within ${ms} ms; last: ${String(last)}`);
}

describe('startRedisCluster', () => {
  let cluster: RedisCluster;
  let client: Cluster;
  const prefix = `rc_${process.pid}_${Date.now().toString(36)}`;
  const keys = Array.from({ length: 30 }, (_, i) => `${prefix}:${i}`);

  beforeAll(async () => {
    cluster = await startRedisCluster();
    client = new Cluster(
      cluster.nodes.map(({ host, port }) => ({ host, port })),
      // A dead node's commands fail at once and are retried by the cluster client after a slot refresh.
      { redisOptions: { protocol: 2, maxRetriesPerRequest: 0 }, retryDelayOnFailover: 100 },
    );
    client.on('error', () => {});
  }, 30_000);

  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  it('starts 3 masters and 3 replicas, each its own process, within the bound', () => {
    expect(cluster.nodes.filter((n) => n.role === 'master')).toHaveLength(3);
    expect(cluster.nodes.filter((n) => n.role === 'replica')).toHaveLength(3);
    expect(new Set(cluster.nodes.map((n) => n.pid)).size).toBe(6);
    expect(cluster.nodes.every((n) => alive(n.pid))).toBe(true);
    expect(cluster.startedInMs).toBeLessThan(20_000);
    console.log(`redis cluster started in ${cluster.startedInMs} ms`);
  });

  it('a Cluster client writes and reads keys that land on all three masters', async () => {
    for (const key of keys) await client.set(key, `v:${key}`);
    expect(await Promise.all(keys.map((key) => client.get(key)))).toEqual(keys.map((key) => `v:${key}`));
    const masters = client.nodes('master');
    expect(masters).toHaveLength(3);
    const owner = await slotOwners(masters[0]!);
    const held = new Map<number, number>();
    for (const master of masters) {
      const port = master.options.port!;
      const mine = await master.keys(`${prefix}:*`);
      held.set(port, mine.length);
      // Each key sits on the master that CLUSTER SLOTS names for its CLUSTER KEYSLOT.
      for (const key of mine) expect(owner(Number(await master.call('CLUSTER', 'KEYSLOT', key)))).toBe(port);
    }
    expect([...held.values()].every((count) => count > 0)).toBe(true);
    expect([...held.values()].reduce((a, b) => a + b, 0)).toBe(keys.length);
  });

  it("a master's crash: its keys answer again through its promoted replica, within a bound", async () => {
    const masters = client.nodes('master');
    const victim = masters[0]!;
    const victimPort = victim.options.port!;
    const victimKeys = await victim.keys(`${prefix}:*`);
    expect(victimKeys.length).toBeGreaterThan(0);
    const replicaPorts = cluster.nodes.filter((n) => n.role === 'replica').map((n) => n.port);
    const keyslot = Number(await victim.call('CLUSTER', 'KEYSLOT', victimKeys[0]!));

    const crashed = Date.now();
    await cluster.stopNode(victimPort);
    expect(alive(cluster.nodes.find((n) => n.port === victimPort)!.pid)).toBe(false);
    const key = victimKeys[0]!;
    expect(
      await within(
        15_000,
        () => client.get(key),
        (v) => v === `v:${key}`,
      ),
    ).toBe(`v:${key}`);
    const failoverMs = Date.now() - crashed;
    console.log(`failover: keys of the crashed master answered again after ${failoverMs} ms`);

    // Every key of the crashed master is still there (replicated before the crash), on a replica of old.
    expect(await Promise.all(victimKeys.map((k) => client.get(k)))).toEqual(victimKeys.map((k) => `v:${k}`));
    const survivor = client.nodes('master').find((node) => node.options.port !== victimPort)!;
    // The surviving masters learn of the promotion by gossip, possibly after the client did.
    const newOwner = await within(
      5_000,
      async () => (await slotOwners(survivor))(keyslot),
      (port) => port !== victimPort,
    );
    expect(replicaPorts).toContain(newOwner);
  }, 30_000);

  it('stop() ends every process it started and removes its temp dir', async () => {
    client.disconnect();
    await cluster.stop();
    for (const node of cluster.nodes) {
      expect(alive(node.pid)).toBe(false);
      expect(processGroupAlive(node.pid)).toBe(false);
    }
    expect(existsSync(cluster.dir)).toBe(false);
    await cluster.stop(); // idempotent
  });
});

describe('startRedisCluster failures', () => {
  it('a missing binary: BINARY_MISSING, nothing left behind', async () => {
    const error = await startRedisCluster({ serverBinary: '/nonexistent/redis-server' }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RedisClusterError);
    expect((error as RedisClusterError).code).toBe('BINARY_MISSING');
    expect((error as RedisClusterError).pids).toEqual([]);
  });

  it('a start that cannot finish in time fails with a typed error and stops every node it launched', async () => {
    const started = Date.now();
    // The nodes start (~100 ms each, in parallel); `redis-cli --cluster create` alone waits 1 s for the join.
    const error = await startRedisCluster({ startTimeoutMs: 1_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RedisClusterError);
    expect(['CREATE_FAILED', 'NOT_READY', 'NODE_FAILED']).toContain((error as RedisClusterError).code);
    expect(Date.now() - started).toBeLessThan(10_000);
    const { pids } = error as RedisClusterError;
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });
});

describe('startClusterNode', () => {
  it('a port taken between its probe and the bind (another process starting a cluster): started again on new ports', async () => {
    // A listener holds one port; the first two ports handed out are that one, then free ones.
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const taken = (holder.address() as AddressInfo).port;
    let handed = 0;
    const root = await mkdtemp(join(tmpdir(), 'strata-node-port-'));
    const node = await startClusterNode({
      binary: 'redis-server',
      root,
      nodeTimeoutMs: 1_000,
      startTimeoutMs: 10_000,
      freePort: () => (handed++ < 2 ? Promise.resolve(taken) : freePort()),
    });
    try {
      expect(node.port).not.toBe(taken);
      expect(handed).toBeGreaterThanOrEqual(4);
      expect(alive(node.pid)).toBe(true);
    } finally {
      await killNode(node, 'SIGKILL');
      await new Promise((resolve) => holder.close(resolve));
      await rm(root, { recursive: true, force: true });
    }
    expect(alive(node.pid)).toBe(false);
  });
});
