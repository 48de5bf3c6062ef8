/**
 * A Redis Cluster failover under a Strata app (createStrata with `redisCluster`, AOF on, the default
 * `replicas: 1`): write-through and write-behind writes run without pause while the master serving
 * the app's slot is SIGKILLed (by its pid). Reads must keep answering, writes must come back after
 * the replica's promotion, and every write that was acknowledged must be in Postgres after a flush,
 * and be what L2 serves. And why `replicas: 1` is the default: a replica that lags when its master
 * dies takes over without the writes it never received, which `replicas: 0` had acknowledged.
 * Numbers go to the console (see docs/redis-cluster.md).
 */
import { defineSchema } from '@strata/core';
import { busProbe, receivedIds, sampleInvalidation } from '@strata/core/testing';
import { type RedisCluster, startRedisCluster } from '@strata/devstack/redis-cluster';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, expect, it, onTestFailed, onTestFinished } from 'vitest';
import { type CreateStrataOptions, createStrata, type NodeStrata } from '../src/create-strata.js';
import { createRedisPubSubBus } from '../src/redis-tcp/bus.js';
import { hashSlot, masterFor } from '../src/redis-tcp/cluster-slots.js';
import { createIoredisL2 } from '../src/redis-tcp/l2.js';
import { ClusterClients, deleteOnMasters, until } from './support/cluster-client.js';
import { type RestartedNode, restartClusterNode } from './support/restart-cluster-node.js';

const name = uniqueName('cluster_failover');
const keyPrefix = `{${name}}`;
const { databaseUrl } = serviceUrls();
const throughTable = pgSchema(name).table('through', {
  id: text('id').primaryKey(),
  n: integer('n').notNull(),
});
const behindTable = pgSchema(name).table('behind', {
  id: text('id').primaryKey(),
  n: integer('n').notNull(),
});
const through = defineSchema({ table: throughTable, l1: false });
const behind = defineSchema({ table: behindTable, writeMode: 'write-behind', l1: false });
const IDS = Array.from({ length: 20 }, (_, i) => `r${i}`);

let cluster: RedisCluster;
const clients = new ClusterClients(() => cluster);
const opened: NodeStrata[] = [];
const restarted: RestartedNode[] = [];
/** The Postgres schemas (and key tags) of the apps the lag test opens. */
const lagPrefixes: string[] = [];

/** Drops the test's Postgres schemas on a connection of its own, once every app is shut down. */
async function dropSchemas(schemas: readonly string[]): Promise<void> {
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  try {
    for (const schema of schemas) await admin.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await admin.end();
  }
}

async function open(replicas?: number, options: Partial<CreateStrataOptions> = {}): Promise<NodeStrata> {
  const node = await createStrata({
    databaseUrl,
    redisCluster: {
      nodes: cluster.nodes.map(({ host, port }) => ({ host, port })),
      ...(replicas !== undefined && { replicas }),
    },
    schemas: [through, behind],
    keyPrefix,
    migrationsSchema: name,
    handleSignals: false,
    // A short cooldown: the L2 is back soon after the promotion, not 5 s later.
    breaker: { cooldown: '500ms' },
    ...options,
  });
  opened.push(node);
  return node;
}

beforeAll(async () => {
  cluster = await startRedisCluster();
}, 30_000);

afterAll(async () => {
  // Shut down first: a shutdown flushes write-behind writes, which would create the version
  // table (and its schema) again after a drop.
  for (const each of opened) await each.shutdown().catch(() => undefined);
  await dropSchemas([name, ...lagPrefixes]);
  const admin = clients.open();
  for (const prefix of [keyPrefix, ...lagPrefixes.map((tag) => `{${tag}}`)])
    await deleteOnMasters(admin, prefix).catch(() => undefined);
  await clients.quitAll();
  for (const node of restarted) await node.stop();
  await cluster?.stop();
});

/** Median of `samples` (ms). */
const median = (samples: number[]): number =>
  [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;

/** `count` write-behind sets, one after another: their latencies (ms). */
async function setLatencies(node: NodeStrata, count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await node.strata.set(behind, { id: IDS[i % IDS.length]!, n: i });
    samples.push(performance.now() - started);
  }
  return samples;
}

it('what waiting for a replica costs a write-behind set (replicas: 1 against 0)', async () => {
  const waiting = await open();
  await waiting.strata.migrate();
  const unwaited = await open(0);
  await setLatencies(waiting, 50); // warm: connections, scripts
  await setLatencies(unwaited, 50);
  const withWait = median(await setLatencies(waiting, 300));
  const withoutWait = median(await setLatencies(unwaited, 300));
  console.log(
    `write-behind set, median of 300: replicas 1 ${withWait.toFixed(3)} ms, 0 ${withoutWait.toFixed(3)} ms`,
  );
  expect(withWait).toBeGreaterThan(0);
  await waiting.strata.flushDirty();
}, 30_000);

/** The error and its causes, outermost first. */
function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = error; e !== undefined && chain.length < 10; e = (e as { cause?: unknown }).cause)
    chain.push(e);
  return chain;
}

it('a replica that lags when its master dies: replicas 0 puts back the acknowledged writes it remembers, replicas 1 refused them', async () => {
  const admin = clients.open();
  // Two apps on the same shard, one per setting; the shard is not the one the next test kills.
  const appSlotMaster = (await masterFor(admin, keyPrefix)).options.port;
  const tags: string[] = [];
  let victimPort: number | undefined;
  for (let i = 0; tags.length < 2 && i < 1_000; i++) {
    const tag = `${name}_lag${i}`;
    const port = (await masterFor(admin, `{${tag}}`)).options.port!;
    if (port === appSlotMaster || (victimPort !== undefined && port !== victimPort)) continue;
    victimPort = port;
    tags.push(tag);
  }
  expect(tags).toHaveLength(2);
  lagPrefixes.push(...tags);
  const victim = cluster.nodes.find((node) => node.port === victimPort)!;
  const master = (await masterFor(admin, `{${tags[0]}}`))!;
  const replicaPort = Number(/slave0:ip=[^,]+,port=(\d+)/.exec(await master.info('replication'))![1]);
  const replica = cluster.nodes.find((node) => node.port === replicaPort)!;
  // No flush until asked: what is acknowledged stays in Redis only, until flushDirty below.
  const noFlush = { writeBehind: { flushInterval: '1h', threshold: 1_000_000 } } as const;
  const apps = await Promise.all(
    tags.map(async (tag, replicas) => {
      const table = pgSchema(tag).table('behind', { id: text('id').primaryKey(), n: integer('n').notNull() });
      const schema = defineSchema({ table, writeMode: 'write-behind', l1: false });
      const node = await open(replicas, {
        keyPrefix: `{${tag}}`,
        migrationsSchema: tag,
        schemas: [schema],
        ...noFlush,
      });
      await node.strata.migrate();
      return { replicas, node, schema, table, acked: new Set<string>(), stalledAcks: 0 };
    }),
  );
  let stop = false;
  let stalled = false;
  const writers = apps.flatMap((app) =>
    Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        const id = `w${w}_${i}`;
        try {
          await app.node.strata.set(app.schema, { id, n: i });
          app.acked.add(id);
          if (stalled) app.stalledAcks++;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
    }),
  );
  onTestFinished(async () => {
    stop = true;
    await Promise.all(writers);
  });
  expect(await until(5_000, () => apps.every((app) => app.acked.size > 50))).toBe(true);
  // The replica stops reading and its link is cut: what the master takes from now on stays there.
  process.kill(replica.pid, 'SIGSTOP');
  try {
    await master.call('CLIENT', 'KILL', 'TYPE', 'replica');
    stalled = true;
    await until(2_000, () => apps[0]!.stalledAcks > 100);
    await cluster.stopNode(victim.port, 'SIGKILL');
  } finally {
    process.kill(replica.pid, 'SIGCONT');
  }
  // The lagging replica takes over (the slot answers again), without what it never received.
  expect(await until(15_000, async () => (await admin.set(`{${tags[0]}}:probe`, '1')) === 'OK')).toBe(true);
  stop = true;
  await Promise.all(writers);
  restarted.push(await restartClusterNode(cluster.dir, victim.port));
  // The promoted replica is another server (another replication id) under the same boot marker: each
  // app finds it at its next generation read (within 5 s) and puts back, and queues again, the
  // writes it acknowledged and still remembers (its own unflushed writes: nothing is lost while the
  // instance lives; one that ended would take them with it). Before the id in the marker, replicas 0
  // lost them here.
  const resets = (app: (typeof apps)[number]) => app.node.strata.stats().errorsBy['l2-reset'] ?? 0;
  for (const app of apps) {
    const found = await until(10_000, async () => {
      await app.node.strata.find(app.schema, 'probe').catch(() => null);
      return resets(app) > 0;
    });
    expect(found, `replicas ${app.replicas}: the failover found`).toBe(true);
  }
  const lost = await Promise.all(
    apps.map(async (app) => {
      await app.node.strata.flushDirty();
      const rows = new Set((await app.node.db.select().from(app.table)).map((row) => row.id));
      return [...app.acked].filter((id) => !rows.has(id)).length;
    }),
  );
  console.log(
    `lagging replica: replicas 0 acknowledged ${apps[0]!.stalledAcks} writes while it lagged and lost ${lost[0]}; ` +
      `replicas 1 acknowledged ${apps[1]!.stalledAcks} then and lost ${lost[1]}`,
  );
  // (replicas 1 may still see a write acknowledged just after the cut: WAIT counted the replica
  // before it; what matters is that none it acknowledged is lost.)
  expect(apps[0]!.stalledAcks).toBeGreaterThan(100);
  expect(lost).toEqual([0, 0]);
}, 60_000);

it('SIGKILL of the app slot master: reads go on, no acknowledged write is lost, write-behind waits for a replica', async () => {
  // What the writer logged (tier failures, with times), printed if the test fails.
  const logs: string[] = [];
  const t0 = Date.now();
  const log = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    logs.push(`${Date.now() - t0} ms ${level} ${message} ${JSON.stringify(fields ?? {}).slice(0, 300)}`);
  const logger = { debug: () => {}, info: log('info'), warn: log('warn'), error: log('error') };
  const writer = await open(undefined, { logger });
  onTestFailed(() => console.log(logs.slice(-40).join('\n')));
  const reader = await open();
  const admin = clients.open();
  const victim = await masterFor(admin, keyPrefix);
  const victimPort = victim.options.port!;
  const victimPid = cluster.nodes.find((node) => node.port === victimPort)!.pid;
  expect(hashSlot(`${keyPrefix}:writes`)).toBe(hashSlot(keyPrefix));

  // The last value each write resolved for, per schema and id: what must survive.
  const acked = { through: new Map<string, number>(), behind: new Map<string, number>() };
  const behindAckedAt: number[] = [];
  let failed = 0;
  let refusedForReplica = 0;
  let n = 0;
  let stop = false;
  const writing = (async () => {
    while (!stop) {
      const value = ++n;
      const id = IDS[Math.floor(value / 2) % IDS.length]!;
      const schema = value % 2 === 0 ? through : behind;
      try {
        await writer.strata.set(schema, { id, n: value });
        (schema === behind ? acked.behind : acked.through).set(id, value);
        if (schema === behind) behindAckedAt.push(Date.now());
      } catch (err) {
        failed++;
        if (causes(err).some((e) => String(e).includes('of 1 replica'))) refusedForReplica++;
        // A refused write costs up to the L2 timeout; a breaker that is open refuses at once.
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  })();
  let reading: Promise<unknown> = Promise.resolve();
  // Also when an expectation fails: the loops must end for the file to end.
  onTestFinished(async () => {
    stop = true;
    await Promise.all([writing, reading]);
  });
  expect(
    await until(10_000, () => acked.behind.size === IDS.length && acked.through.size === IDS.length),
  ).toBe(true);

  // Reads from now on (every row exists): none may fail, L2 down or not.
  const readLatencies: number[] = [];
  let readFailures = 0;
  reading = (async () => {
    while (!stop) {
      const started = performance.now();
      await reader.strata.get(through, IDS[readLatencies.length % IDS.length]!).catch(() => readFailures++);
      readLatencies.push(performance.now() - started);
    }
  })();

  // A bus pair on a channel in the app's slot: the subscriber must find the promoted master.
  const channel = `${keyPrefix}:bus-probe`;
  const publisher = createRedisPubSubBus({ redis: clients.open(), channel });
  const subscriber = createRedisPubSubBus({ redis: clients.open(), channel });
  const heard = busProbe();
  await subscriber.subscribe(heard);
  await publisher.publish(sampleInvalidation('before'));
  expect(await until(5_000, () => receivedIds(heard).includes('before'))).toBe(true);
  onTestFinished(() => Promise.all([publisher.close(), subscriber.close()]).then(() => undefined));

  const beforeKill = n;
  const killedAt = Date.now();
  // Where the test was when (with the writer's log on failure).
  const phase = (what: string) => logs.push(`${Date.now() - t0} ms: ${what} (n ${n}, failed ${failed})`);
  await cluster.stopNode(victimPort, 'SIGKILL');
  // The slot answers again once its replica is promoted.
  const probe = `${keyPrefix}:probe`;
  expect(await until(15_000, async () => (await admin.set(probe, '1')) === 'OK')).toBe(true);
  const slotBackMs = Date.now() - killedAt;
  // The bus again: a gap (what was published meanwhile is lost), then messages on the new master.
  let sent = 0;
  const heardAgain = await until(15_000, async () => {
    await publisher.publish(sampleInvalidation(`after${sent++}`)).catch(() => undefined);
    return receivedIds(heard).some((id) => id?.startsWith('after'));
  });
  expect(heardAgain).toBe(true);
  const busBackMs = Date.now() - killedAt;
  expect(heard.gaps).toBeGreaterThanOrEqual(1);
  phase('slot back');
  // Now the shard has one node: WAIT 1 cannot be met, so a write is refused, not acknowledged on a
  // single copy. Seen on an L2 of its own (the app's breaker may be open meanwhile)...
  const probeL2 = createIoredisL2(clients.open());
  const set = { name: 'probe', source: "return redis.call('SET', KEYS[1], ARGV[1])" };
  const refusal = () => probeL2.run(set, [probe], ['2']).then(() => '', String);
  expect(await until(15_000, async () => (await refusal()).includes('reached 0 of 1 replica'))).toBe(true);
  // ...and by the app: no write-behind write is acknowledged while the shard has no replica.
  const refusedFrom = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const ackedBeforeRestart = behindAckedAt.length;
  expect(behindAckedAt.filter((at) => at > refusedFrom)).toEqual([]);
  phase('refused for want of a replica');

  // The crashed node comes back (its own AOF and nodes.conf) as the replica of the promoted one.
  const restartedAt = Date.now();
  restarted.push(await restartClusterNode(cluster.dir, victimPort));
  phase('restarted');
  expect(await until(15_000, () => behindAckedAt.some((at) => at > restartedAt))).toBe(true);
  const writesBackMs = behindAckedAt.find((at) => at > restartedAt)! - restartedAt;
  phase('write-behind back');
  const afterBack = n;
  await until(10_000, () => n > afterBack + 200);
  stop = true;
  await Promise.all([writing, reading]);
  phase('stopped');
  await new Promise((resolve) => admin.refreshSlotsCache(resolve));
  const newMaster = await masterFor(admin, keyPrefix);

  await writer.strata.flushDirty();
  await reader.strata.flushDirty();
  phase('flushed');
  const byId = (rows: { id: string; n: number }[]) => new Map(rows.map((row) => [row.id, row.n]));
  const behindRows = byId(await writer.db.select().from(behindTable));
  const throughRows = byId(await writer.db.select().from(throughTable));
  // Every acknowledged write is in Postgres: the last one acknowledged, or a later one that failed
  // its acknowledgement but was applied (a failed write may still land; an acknowledged one must).
  for (const [id, value] of acked.behind) expect(behindRows.get(id)).toBeGreaterThanOrEqual(value);
  for (const [id, value] of acked.through) expect(throughRows.get(id)).toBeGreaterThanOrEqual(value);
  // And L2 serves no older value than Postgres holds. A fresh instance: the writer moved the
  // generation on after the writes L2 missed during the failover, which another running instance
  // sees at its next generation read (core's bound: 5 s), a new one at once.
  const fresh = await open();
  for (const id of IDS) expect(await fresh.strata.get(through, id)).toEqual({ id, n: throughRows.get(id) });
  for (const id of IDS) expect(await fresh.strata.get(behind, id)).toEqual({ id, n: behindRows.get(id) });

  console.log(
    `failover: SIGKILL pid ${victimPid} (port ${victimPort}), promoted port ${newMaster.options.port}; ` +
      `slot answered again after ${slotBackMs} ms, the bus delivered again after ${busBackMs} ms ` +
      `(${heard.gaps} gap); ${beforeKill} writes before the kill, ${n} in all, ` +
      `${failed} refused (${refusedForReplica} for want of a replica), ${ackedBeforeRestart} write-behind acks ` +
      `before the restart; write-behind acknowledged again ${writesBackMs} ms after the crashed node restarted; ` +
      `${readLatencies.length} reads, ${readFailures} failed, slowest ${Math.max(...readLatencies).toFixed(0)} ms, ` +
      `median ${median(readLatencies).toFixed(2)} ms`,
  );
  expect(newMaster.options.port).not.toBe(victimPort);
  expect(readFailures).toBe(0);
}, 60_000);
