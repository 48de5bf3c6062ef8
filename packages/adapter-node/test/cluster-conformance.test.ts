/**
 * The Redis-over-TCP drivers on a real Redis Cluster (3 masters + 3 replicas, started once for the
 * file): the L2, bus and queue conformance suites over ioredis `Cluster` clients, what differs on a
 * Cluster (MGET per slot, sharded pub/sub, durability asked of the stream's master, refusals), and
 * createStrata with `redisCluster` end to end. See docs/redis-cluster.md.
 */
import { defineSchema, isStrataError, Q, StrataError } from '@strata/core';
import { applyChanges } from '@strata/core/admin';
import {
  describeBusConformance,
  describeL2Conformance,
  describeQueueConformance,
  strataRejection,
} from '@strata/core/testing';
import { type RedisCluster, startRedisCluster } from '@strata/devstack/redis-cluster';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { sql } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type CreateStrataOptions, createStrata, type NodeStrata } from '../src/create-strata.js';
import { createRedisPubSubBus } from '../src/redis-tcp/bus.js';
import { hashSlot, masterFor } from '../src/redis-tcp/cluster-slots.js';
import { createIoredisL2 } from '../src/redis-tcp/l2.js';
import { createRedisStreamQueue } from '../src/redis-tcp/queue.js';
import { ClusterClients, commandsDuring, deleteOnMasters } from './support/cluster-client.js';

/**
 * A version of changes made outside Strata above every write of these tests: a write ordered by
 * Postgres goes no lower than its table's latest epoch (2^36 per epoch), which earlier writes started.
 */
const ABOVE_EVERY_WRITE = 2 ** 52;

let cluster: RedisCluster;
const clients = new ClusterClients(() => cluster);

beforeAll(async () => {
  cluster = await startRedisCluster();
}, 30_000);

afterAll(async () => {
  await clients.quitAll();
  await cluster?.stop();
});

describe('hash slots', () => {
  it('hashSlot says what CLUSTER KEYSLOT says, hash tags and non-ASCII keys included', async () => {
    const admin = clients.open();
    const keys = [
      ...Array.from({ length: 100 }, (_, i) => `k:${i}:${'x'.repeat(i % 7)}`),
      '{shop}:players:r:1',
      'a{shop}b',
      '{}x',
      '{x',
      'x}{y}',
      'é{ü}',
      'naïve',
      '',
    ];
    const expected = await Promise.all(keys.map(async (key) => Number(await admin.cluster('KEYSLOT', key))));
    expect(keys.map(hashSlot)).toEqual(expected);
  });
});

// WAIT rides in the script's pipeline (one round trip): the suite's round-trip counts leave it out.
describeL2Conformance('ioredis Cluster, keys under one hash tag, writes wait for a replica', async () => {
  const prefix = `{${uniqueName('l2cluster')}}:`;
  const raw = clients.open();
  const tier = createIoredisL2(clients.open());
  return {
    tier,
    prefix,
    raw: {
      get: (key) => raw.get(key),
      set: async (key, value) => {
        await raw.set(key, value);
      },
      pttl: (key) => raw.pttl(key),
      // A script is cached per node: known when a master knows it.
      scriptExists: async (sha1) => {
        const masters = raw.nodes('master');
        const known = await Promise.all(
          masters.map(async (m) => (await m.script('EXISTS', sha1)) as number[]),
        );
        return known.some(([exists]) => exists === 1);
      },
    },
    roundTrips: async (during) => (await commandsDuring(during)).filter((name) => name !== 'wait').length,
    cleanup: () => deleteOnMasters(raw, prefix),
  };
});

describe('ioredis L2 on a Cluster', () => {
  it('getMany over keys on many slots: one MGET per slot touched, the replies back in order', async () => {
    const raw = clients.open();
    const tier = createIoredisL2(clients.open());
    const prefix = uniqueName('l2slots');
    // 40 keys on 40 different slots (40 random names would share a slot about one run in 20).
    const keys: string[] = [];
    const taken = new Set([hashSlot(`{${prefix}}`)]); // the slot of the two tagged keys below
    for (let i = 0; keys.length < 40; i++) {
      const key = `${prefix}:${i}`;
      if (taken.has(hashSlot(key))) continue;
      taken.add(hashSlot(key));
      keys.push(key);
    }
    // Two keys under one tag: the same slot, so one MGET for both.
    keys.push(`{${prefix}}:a`, `{${prefix}}:b`);
    for (const [i, key] of keys.entries()) if (i % 3 !== 0) await raw.set(key, `v${i}`);
    await tier.getMany(keys); // connects every node first
    let values: (string | null)[] = [];
    const sent = await commandsDuring(async () => {
      values = await tier.getMany(keys);
    });
    expect(values).toEqual(keys.map((_, i) => (i % 3 === 0 ? null : `v${i}`)));
    const slots = new Set(keys.map(hashSlot));
    expect(slots.size).toBe(41);
    expect(sent.filter((name) => name === 'mget')).toHaveLength(slots.size);
    expect(sent).toHaveLength(slots.size);
    await deleteOnMasters(raw, prefix);
    await deleteOnMasters(raw, `{${prefix}}`);
  });

  it('a script call waits for one replica (WAIT in its pipeline), and replicas: 0 sends none', async () => {
    const raw = clients.open();
    const key = `{${uniqueName('l2wait')}}:k`;
    const script = { name: 'set', source: "return redis.call('SET', KEYS[1], ARGV[1])" };
    const waiting = createIoredisL2(clients.open());
    await waiting.run(script, [key], ['1']);
    // (INFO: a connection's ready check, which a Cluster client may run at any time.)
    const sent = async (call: () => Promise<unknown>) =>
      (await commandsDuring(call)).filter((name) => name !== 'info');
    expect(await sent(() => waiting.run(script, [key], ['2']))).toEqual(['evalsha', 'wait']);
    const async = createIoredisL2(clients.open(), { replicas: 0 });
    await async.run(script, [key], ['3']);
    expect(await sent(() => async.run(script, [key], ['4']))).toEqual(['evalsha']);
    // More replicas than the shard has: WAIT times out with 1, so the write is not acknowledged.
    const greedy = createIoredisL2(clients.open(), { replicas: 2, replicaTimeoutMs: 50 });
    const refused = await strataRejection(greedy.run(script, [key], ['5']));
    expect(refused.code).toBe('L2_UNAVAILABLE');
    expect(refused.message).toContain('1 of 2 replica');
    await raw.del(key);
  });

  it('refuses invalid replica options with INVALID_CONFIG', () => {
    const client = clients.open({ lazyConnect: true });
    for (const options of [{ replicas: -1 }, { replicas: 1.5 }, { replicaTimeoutMs: 0 }]) {
      expect(() => createIoredisL2(client, options)).toThrow(StrataError);
    }
  });
});

describeBusConformance('redis pub/sub bus on a Cluster (sharded pub/sub)', async () => {
  const channel = uniqueName('bus_cluster');
  const publisher = clients.open();
  const a = createRedisPubSubBus({ redis: clients.open(), channel });
  const b = createRedisPubSubBus({ redis: clients.open(), channel });
  return {
    a,
    b,
    deliver: async () => {},
    injectRaw: async (payload) => {
      await publisher.spublish(channel, payload);
    },
    cleanup: async () => {
      await Promise.all([a.close(), b.close()]);
    },
  };
});

describe('redis pub/sub bus on a Cluster', () => {
  it("subscribes on the channel's master with the forced options (RESP2), whatever the Cluster's", async () => {
    const channel = uniqueName('bus_opts');
    const connectionName = uniqueName('bus_sub');
    const client = clients.open({ redisOptions: { protocol: 3 } });
    const bus = createRedisPubSubBus({ redis: client, channel, redisOptions: { connectionName } });
    await bus.subscribe({ message: () => {}, gap: () => {} });
    const master = await masterFor(client, channel);
    const line = ((await master.client('LIST')) as string)
      .split('\n')
      .find((l) => l.includes(` name=${connectionName} `));
    expect(line).toContain('resp=2');
    expect(line).toMatch(/ ssub=1 /);
    await bus.close();
  });
});

describeQueueConformance('redis stream queue on a Cluster, stream under a hash tag', async () => {
  const stream = `{${uniqueName('queue_cluster')}}:writes`;
  const admin = clients.open();
  const open = () => createRedisStreamQueue({ redis: clients.open(), stream });
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

describe('redis stream queue on a Cluster', () => {
  it('refuses a stream without a hash tag, or dead letters in another slot (INVALID_CONFIG)', () => {
    const redis = clients.open({ lazyConnect: true });
    const refusal = (options: Parameters<typeof createRedisStreamQueue>[0]) => {
      try {
        createRedisStreamQueue(options);
      } catch (err) {
        return err;
      }
      return undefined;
    };
    const untagged = refusal({ redis, keyPrefix: 'shop' });
    expect(isStrataError(untagged, 'INVALID_CONFIG')).toBe(true);
    expect(String(untagged)).toContain('"{shop:writes}"');
    const apart = refusal({ redis, stream: '{a}:writes', deadLetterStream: '{b}:dead' });
    expect(isStrataError(apart, 'INVALID_CONFIG')).toBe(true);
    expect(refusal({ redis, keyPrefix: '{shop}' })).toBeUndefined();
  });

  it("enqueue waits for a replica; checkDurability asks the stream's master, not any node", async () => {
    const stream = `{${uniqueName('queue_aof')}}:writes`;
    const admin = clients.open();
    const master = await masterFor(admin, stream);
    const queue = createRedisStreamQueue({ redis: clients.open(), stream });
    const write = { schema: 's', id: '1', op: 'set' as const, row: '{"id":"1"}', version: 1 };
    expect(await queue.pending()).toBe(0); // connects every node first
    const sent = await commandsDuring(() => queue.enqueue([write, { ...write, id: '2' }]));
    // INFO: the durability check (a connection's ready check may add one); then one script, one WAIT.
    expect(sent).toContain('info');
    expect(sent.filter((name) => name !== 'info')).toEqual(['eval', 'wait']);
    expect(await queue.pending()).toBe(2);
    // AOF off on the stream's master alone: only a check of that node can see it.
    await master.config('SET', 'appendonly', 'no');
    try {
      const fresh = createRedisStreamQueue({ redis: clients.open(), stream });
      const refused = await strataRejection(fresh.checkDurability());
      expect(refused.code).toBe('INVALID_CONFIG');
      expect(refused.message).toContain(`:${master.options.port} has no append-only file`);
      await fresh.close();
    } finally {
      await master.config('SET', 'appendonly', 'yes');
    }
    await queue.close();
    await vi.waitFor(async () =>
      expect(await master.info('persistence')).toMatch(/aof_rewrite_in_progress:0/),
    );
    await admin.del(stream, queue.deadLetterStream);
  });
});

describe('createStrata with redisCluster', () => {
  const name = uniqueName('cluster_e2e');
  const keyPrefix = `{${name}}`;
  const { databaseUrl } = serviceUrls();
  const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
  const items = defineSchema({ table, l1: { ttl: '10m' } });
  const queuedTable = pgSchema(name).table('queued', {
    id: text('id').primaryKey(),
    n: integer('n').notNull(),
  });
  const queued = defineSchema({ table: queuedTable, writeMode: 'write-behind' });
  const opened: NodeStrata[] = [];
  const open = async (options: Partial<CreateStrataOptions> = {}): Promise<NodeStrata> => {
    const node = await createStrata({
      databaseUrl,
      redisCluster: { nodes: cluster.nodes.map(({ host, port }) => ({ host, port })) },
      schemas: [items, queued],
      keyPrefix,
      migrationsSchema: name,
      handleSignals: false,
      ...options,
    });
    opened.push(node);
    return node;
  };

  afterAll(async () => {
    const node = opened[0] ?? (await open());
    await node.db.execute(sql.raw(`drop schema if exists "${name}" cascade`));
    for (const each of opened) await each.shutdown();
    const admin = clients.open();
    await deleteOnMasters(admin, keyPrefix);
  });

  it('two instances: write-through and write-behind writes, reads across instances, getMany in one MGET', async () => {
    const a = await open();
    const b = await open();
    await a.strata.migrate();
    await a.strata.set(items, { id: 'k', n: 1 });
    expect(await b.strata.get(items, 'k')).toEqual({ id: 'k', n: 1 });
    expect(b.strata.stats().hits.l2).toBe(1);
    await a.strata.set(items, { id: 'k', n: 2 });
    // B's L1 holds n = 1 for ten minutes: only the (sharded) bus can make it read n = 2.
    await vi.waitFor(async () => expect(await b.strata.get(items, 'k')).toEqual({ id: 'k', n: 2 }), {
      timeout: 5_000,
      interval: 20,
    });

    const ids = Array.from({ length: 200 }, (_, i) => `q${i}`);
    for (const id of ids) await a.strata.set(queued, { id, n: Number(id.slice(1)) });
    // Read on the other instance before any flush: the rows are pending in L2.
    expect(await b.strata.get(queued, 'q7')).toEqual({ id: 'q7', n: 7 });
    await a.strata.flushDirty();
    expect(await a.strata.queueDepth()).toBe(0);
    const rows = await a.db.select().from(queuedTable);
    expect(rows.length).toBe(ids.length);

    const fresh = await open();
    await fresh.strata.getMany(queued, ['q0']); // connects first
    let many: unknown[] = [];
    const sent = await commandsDuring(async () => {
      many = await fresh.strata.getMany(queued, ids);
    });
    expect(many).toEqual(ids.map((id) => ({ id, n: Number(id.slice(1)) })));
    // Every key of the app shares the keyPrefix's hash tag: one slot, one MGET for 200 rows.
    expect(sent.filter((command) => command === 'mget')).toHaveLength(1);
  }, 30_000);

  it('refuses a keyPrefix without a hash tag, or a write stream in another slot (INVALID_CONFIG)', async () => {
    const untagged = await open({ keyPrefix: name }).catch((err: unknown) => err);
    expect(isStrataError(untagged, 'INVALID_CONFIG')).toBe(true);
    expect(String(untagged)).toContain(`"{${name}}"`);
    const apart = await open({ writeStream: '{elsewhere}:writes' }).catch((err: unknown) => err);
    expect(isStrataError(apart, 'INVALID_CONFIG')).toBe(true);
    expect(String(apart)).toContain('writeStream');
    const both = await open({ redisUrl: serviceUrls().redisUrl }).catch((err: unknown) => err);
    expect(isStrataError(both, 'INVALID_CONFIG')).toBe(true);
  });
});

describe('createStrata with redisCluster and buckets: 16 (key layout C)', () => {
  const name = uniqueName('cluster_b16');
  const { databaseUrl } = serviceUrls();
  const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
  const items = defineSchema({ table, l1: { ttl: '10m' }, tags: (row) => [row.n % 2 ? 'odd' : 'even'] });
  const opened: NodeStrata[] = [];
  const open = async (options: Partial<CreateStrataOptions> = {}): Promise<NodeStrata> => {
    const node = await createStrata({
      databaseUrl,
      redisCluster: { nodes: cluster.nodes.map(({ host, port }) => ({ host, port })) },
      schemas: [items],
      keyPrefix: name, // no hash tag: Strata adds one per bucket, {name#b}
      buckets: 16,
      migrationsSchema: name,
      handleSignals: false,
      ...options,
    });
    opened.push(node);
    return node;
  };
  const ids = Array.from({ length: 200 }, (_, i) => `i${i}`);

  afterAll(async () => {
    const node = opened[0] ?? (await open());
    await node.db.execute(sql.raw(`drop schema if exists "${name}" cascade`));
    for (const each of opened) await each.shutdown();
    await deleteOnMasters(clients.open(), `{${name}#`);
  });

  it('the engine on 16 slots: writes, reads across instances, deletes, invalidations, no L2 error', async () => {
    const a = await open();
    await a.strata.migrate();
    await a.strata.setMany(
      items,
      ids.map((id, n) => ({ id, n })),
    );
    const b = await open();
    await b.strata.getMany(items, ['i0']); // connects every node first
    let many: unknown[] = [];
    const sent = await commandsDuring(async () => {
      many = await b.strata.getMany(items, ids.slice(1));
    });
    expect(many).toEqual(ids.slice(1).map((id, i) => ({ id, n: i + 1 })));
    expect(b.strata.stats().hits.l2).toBe(ids.length);
    // One MGET per bucket touched (200 rows: all 16), sent at once (each bucket's generation read
    // too), and at most one of the tag values the rows carry (bucket 0).
    const mgets = sent.filter((command) => command === 'mget').length;
    expect(mgets).toBeGreaterThanOrEqual(16);
    expect(mgets).toBeLessThanOrEqual(17);

    // Writes of rows in many buckets reach the other instance through the sharded bus.
    await a.strata.setMany(items, [
      { id: 'i1', n: -1 },
      { id: 'i2', n: -2 },
    ]);
    await a.strata.deleteMany(items, ['i3', 'i4']);
    await vi.waitFor(
      async () =>
        expect(await b.strata.getMany(items, ['i1', 'i2', 'i3', 'i4'])).toEqual([
          { id: 'i1', n: -1 },
          { id: 'i2', n: -2 },
          null,
          null,
        ]),
      { timeout: 5_000, interval: 20 },
    );
    // A cached search: its list in one bucket, stored with the 16 search generations; a write in
    // any bucket makes it a miss.
    const query = Q().where('n >= $1', 190).orderBy('id').build();
    const listed = async () => (await b.strata.searchCached(items, query)).map((row) => row.id).sort();
    expect(await listed()).toEqual(ids.slice(190).sort());
    await b.strata.settled();
    const hits = b.strata.stats().hits.l2;
    expect(await listed()).toEqual(ids.slice(190).sort());
    expect(b.strata.stats().hits.l2).toBe(hits + 1);
    await a.strata.set(items, { id: 'i5', n: 195 });
    await vi.waitFor(async () => expect(await listed()).toEqual([...ids.slice(190), 'i5'].sort()), {
      timeout: 5_000,
      interval: 20,
    });
    // Tags (in bucket 0, with their clock: one slot): the odd rows of every bucket leave L2.
    await a.strata.invalidateTags(['odd']);
    const d = await open();
    expect((await d.strata.getMany(items, ids)).map((row) => row?.n)).toEqual(
      (await b.strata.getMany(items, ids)).map((row) => row?.n),
    );
    const odd = (await a.db.select().from(table)).filter((row) => row.n % 2 !== 0).length;
    expect(d.strata.stats().hits.l2).toBe(ids.length - 2 - odd);
    // Changes made outside Strata, on rows of many buckets: one MARK per bucket, each in its slot.
    const changed = ids.slice(100, 140);
    await applyChanges(a.strata, [
      { schema: items.identity, ids: changed, versions: changed.map(() => ABOVE_EVERY_WRITE), op: 'update' },
    ]);
    const e = await open();
    expect((await e.strata.getMany(items, changed)).map((row) => row?.id)).toEqual(changed);
    expect(e.strata.stats().hits.l2).toBe(0);
    // invalidateAll moves all 16 generations: a fresh instance reads every row from Postgres.
    await a.strata.invalidateAll(items);
    const c = await open();
    expect((await c.strata.getMany(items, ids)).filter((row) => row !== null)).toHaveLength(ids.length - 2);
    expect(c.strata.stats().hits.l2).toBe(0);
    // A CROSSSLOT (or any L2 failure) would be tolerated, counted, and answered from Postgres.
    for (const node of [a, b, c, d, e]) expect(node.strata.stats().errors).toBe(0);
  }, 30_000);

  it("one schema's keys spread over 16 slots on several masters; each bucket's keys share one slot", async () => {
    const admin = clients.open();
    await admin.exists('connect'); // the client knows the masters once connected
    const slotsOf = new Map<number, Set<number>>(); // bucket -> slots of its keys
    const mastersWithRows = new Set<string>();
    for (const master of admin.nodes('master')) {
      let cursor = '0';
      do {
        const [next, keys] = await master.scan(cursor, 'MATCH', `{${name}#*`, 'COUNT', 1_000);
        for (const key of keys) {
          const bucket = Number(/^\{[^#]+#(\d+)\}:/.exec(key)?.[1]);
          expect(hashSlot(key)).toBe(hashSlot(`{${name}#${bucket}}`));
          slotsOf.set(bucket, (slotsOf.get(bucket) ?? new Set()).add(hashSlot(key)));
          if (key.includes(':r:')) mastersWithRows.add(`${master.options.host}:${master.options.port}`);
        }
        cursor = next;
      } while (cursor !== '0');
    }
    expect([...slotsOf.keys()].sort((x, y) => x - y)).toEqual(Array.from({ length: 16 }, (_, b) => b));
    expect([...slotsOf.values()].every((slots) => slots.size === 1)).toBe(true);
    expect(new Set([...slotsOf.values()].map((slots) => [...slots][0])).size).toBe(16);
    // 16 slots over 3 masters: all on two or fewer happens about once in 200 prefixes.
    expect(mastersWithRows.size).toBeGreaterThanOrEqual(2);
    console.log(`buckets: 16 slots of one schema over ${mastersWithRows.size} of 3 masters`);
  });

  // The stream queue over buckets (a stream per bucket): cluster-write-behind-buckets.test.ts.
  it('refuses a writeStream with more than one bucket, and a keyPrefix with a hash tag (INVALID_CONFIG)', async () => {
    const queued = await open({ writeBehind: { queue: 'redis-stream' }, writeStream: `{${name}}:w` }).catch(
      (err: unknown) => err,
    );
    expect(isStrataError(queued, 'INVALID_CONFIG')).toBe(true);
    expect(String(queued)).toContain('writeStream: with more than one bucket each bucket has its own stream');
    const tagged = await open({ keyPrefix: `{${name}}` }).catch((err: unknown) => err);
    expect(isStrataError(tagged, 'INVALID_CONFIG')).toBe(true);
    expect(String(tagged)).toContain('config.keyPrefix: has a hash tag');
  });
});
