import { defineSchema, Strata, StrataError, type WriteQueue } from '@strata/core';
import { decodeQueuedWrite } from '@strata/core/driver';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { countingL2, strataRejection } from '@strata/core/testing';
import { lapseWriterClaims } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createRedisPubSubBus } from '../src/redis-tcp/bus.js';
import { createIoredisL2 } from '../src/redis-tcp/l2.js';
import { createRedisStreamQueue } from '../src/redis-tcp/queue.js';
import { scratch } from './support/scratch.js';

// Write-behind sets made while one is out go as ONE L2 script (group commit, issue 15): counted at
// the L2 seam, over the real Redis (ioredis L2, Redis Stream queue on it) and Postgres. Each caller
// resolves its own row, same-key writes keep call order, a failed batch acknowledges nobody, and a
// row the queue refuses fails only its own caller.

const store = scratch('wb_group');
const { name, redisUrl, db } = store;
const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
const afterSet: number[] = [];
const items = defineSchema({
  table,
  writeMode: 'write-behind',
  hooks: { afterSet: (row) => void afterSet.push(row.n as number) },
});
const admin = new Redis(redisUrl, { protocol: 2 });

afterAll(async () => {
  const keys = await admin.keys(`${name}*`);
  if (keys.length > 0) await admin.del(...keys);
  await admin.quit();
  await store.cleanup();
});

/**
 * A Strata of its own (`tag` names its keyPrefix, stream and bus channel) over the ioredis L2, its
 * calls named (`l2.ran`), with a Redis Stream queue on the same Redis (`wrap` may stand between
 * the engine and it) and a Redis pub/sub bus whose publishes are counted (`published`).
 */
async function setup(tag: string, wrap: (queue: WriteQueue) => WriteQueue = (q) => q) {
  // Each tag is its own app (keyPrefix) on the one table, one test after the other: the earlier
  // tests' apps, done writing, have their claims lapsed (docs/semantics.md, "One writer per table").
  await lapseWriterClaims(store.pool, name, { redis: admin, keyPrefix: name });
  const l2 = countingL2(createIoredisL2(redisUrl));
  const keyPrefix = `${name}-${tag}`;
  const queue = () =>
    createRedisStreamQueue({
      url: redisUrl,
      keyPrefix,
      stream: `${name}:${tag}:writes`,
      allowVolatile: true,
    });
  const published: { ids: readonly string[] | null; versions?: readonly number[] }[] = [];
  const bus = () => {
    const real = createRedisPubSubBus({ url: redisUrl, channel: `${name}:${tag}:bus` });
    // Counted here, at `publish`: without `scripted`, the engine publishes each batch's messages
    // itself (the script publishing them is write-behind-bus-one-round-trip.test.ts').
    Object.assign(real, { scripted: undefined });
    const publish = real.publish.bind(real);
    real.publish = (message) => {
      published.push({ ids: message.ids, ...(message.versions && { versions: message.versions }) });
      return publish(message);
    };
    return real;
  };
  const make = (l2Tier = createIoredisL2(redisUrl)) =>
    new Strata({
      l2: l2Tier,
      l3: createDrizzleL3(db, { migrationsSchema: name }),
      writeBehind: { queue: wrap(queue()), threshold: 1_000_000 },
      coherence: { bus: bus() },
      keyPrefix,
      schemas: [items],
    });
  const strata = make(l2.tier);
  return { strata, l2, published, make, stream: `${name}:${tag}:writes` };
}

/** The row Postgres holds for `id`. */
const inPostgres = async (id: string) => (await db.select().from(table)).find((r) => r.id === id);

beforeAll(async () => {
  const { strata } = await setup('migrate');
  await strata.migrate();
  await strata.close();
});

it('64 sets in flight: one L2 script, one bus message with every key and version; each caller its own row; same keys in call order', async () => {
  const { strata, l2, published, make, stream } = await setup('many');
  const other = make();
  await strata.set(items, { id: 'k0', n: -1 }); // the queue check (once), outside the count
  expect(await other.get(items, 'k0')).toEqual({ id: 'k0', n: -1 }); // into the other's L1
  l2.ran.length = 0;
  published.length = 0;
  afterSet.length = 0;
  const setsBefore = strata.stats().sets;
  // 64 sets over 16 keys: key k(i % 16) gets n = i, four times each.
  const stored = await Promise.all(
    Array.from({ length: 64 }, (_, i) => strata.set(items, { id: `k${i % 16}`, n: i })),
  );
  expect(stored.map((r) => r.n)).toEqual(Array.from({ length: 64 }, (_, i) => i));
  expect(l2.ran).toEqual(['ordered-put-enqueue']);
  expect(strata.stats().sets - setsBefore).toBe(64);
  expect(afterSet.sort((a, b) => a - b)).toEqual(Array.from({ length: 64 }, (_, i) => i));
  // One message: every key of the batch with the version it took, increasing in call order.
  expect(published).toHaveLength(1);
  const [message] = published;
  expect(message!.ids).toEqual(Array.from({ length: 64 }, (_, i) => `k${i % 16}`));
  const versions = message!.versions!;
  expect(versions).toEqual([...versions].sort((a, b) => a - b));
  expect(new Set(versions).size).toBe(64);
  // The queue holds the 64 writes (after the check's one) in call order with those versions.
  const entries = (await admin.xrange(stream, '-', '+')).slice(1).map(([, f]) => decodeQueuedWrite(f[1]!));
  expect(entries.map((w) => [w.id, JSON.parse(w.row!).n, w.version])).toEqual(
    Array.from({ length: 64 }, (_, i) => [`k${i % 16}`, i, versions[i]]),
  );
  // Read your writes here, and on the other instance once its L1 heard (the last of each key).
  for (let k = 0; k < 16; k++) expect(await strata.get(items, `k${k}`)).toEqual({ id: `k${k}`, n: 48 + k });
  await expect.poll(() => other.get(items, 'k0')).toEqual({ id: 'k0', n: 48 });
  await strata.flushDirty();
  for (let k = 0; k < 16; k++) expect(await inPostgres(`k${k}`)).toEqual({ id: `k${k}`, n: 48 + k });
  await other.close();
  await strata.close();
});

it('sets made while a batch is out leave together as the next one: 3 rounds of 20 in flight, far fewer than 60 scripts', async () => {
  const { strata, l2 } = await setup('rounds');
  await strata.set(items, { id: 'r', n: 0 });
  l2.ran.length = 0;
  // Each caller sets again as soon as its last set resolved (a closed loop of 20, 3 sets each).
  const loop = async (w: number) => {
    for (let round = 0; round < 3; round++) await strata.set(items, { id: `r${w}`, n: round });
  };
  await Promise.all(Array.from({ length: 20 }, (_, w) => loop(w)));
  const scripts = l2.ran.filter((c) => c === 'ordered-put-enqueue').length;
  expect(scripts).toBeGreaterThanOrEqual(3);
  expect(scripts).toBeLessThanOrEqual(6);
  await strata.flushDirty();
  for (let w = 0; w < 20; w++) expect(await inPostgres(`r${w}`)).toEqual({ id: `r${w}`, n: 2 });
  await strata.close();
});

it('a batch that fails rejects every caller in it and leaves no row, version or queue entry behind', async () => {
  const { strata, l2, stream } = await setup('fails');
  await strata.set(items, { id: 'f0', n: 1 });
  const [counterKey] = await admin.keys(`${name}-fails:*:ver`);
  const before = { counter: await admin.get(counterKey!), entries: await admin.xlen(stream) };
  // The stream key made a string: the script's XADD fails, before it wrote anything.
  await admin.rename(stream, `${stream}:moved`);
  await admin.set(stream, 'not a stream');
  l2.ran.length = 0;
  const outcomes = await Promise.all(
    Array.from({ length: 32 }, (_, i) => strataRejection(strata.set(items, { id: `f${i % 8}`, n: 100 + i }))),
  );
  expect(outcomes.map((e) => e.code)).toEqual(Array(32).fill('L2_UNAVAILABLE'));
  expect(l2.ran).toEqual(['ordered-put-enqueue']); // one batch, not tried again call by call
  await admin.del(stream);
  await admin.rename(`${stream}:moved`, stream);
  expect(await admin.get(counterKey!)).toBe(before.counter);
  expect(await admin.xlen(stream)).toBe(before.entries);
  expect(await strata.get(items, 'f0')).toEqual({ id: 'f0', n: 1 });
  expect((await strataRejection(strata.get(items, 'f1'))).code).toBe('NOT_FOUND');
  await strata.flushDirty();
  expect(await inPostgres('f0')).toEqual({ id: 'f0', n: 1 });
  expect(await inPostgres('f1')).toBeUndefined();
  await strata.close();
});

it('a row the queue refuses fails its own caller only: the batch is written again call by call', async () => {
  // The queue (the real one, not on the L2's Redis as far as the engine knows: two requests) refuses
  // any batch holding the id 'bad', as a queue refuses a message it cannot take.
  const refusing = (queue: WriteQueue): WriteQueue =>
    new Proxy(queue, {
      get(target, key) {
        if (key === 'colocated') return undefined;
        if (key === 'enqueue')
          return async (writes: Parameters<WriteQueue['enqueue']>[0]) => {
            if (writes.some((w) => w.id === 'bad')) throw new StrataError('VALIDATION_FAILED', 'too large');
            return target.enqueue(writes);
          };
        const value = Reflect.get(target, key);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  const { strata, l2 } = await setup('refuses', refusing);
  await strata.set(items, { id: 'g', n: 0 });
  l2.ran.length = 0;
  const ids = ['a1', 'a2', 'bad', 'a3', 'a4'];
  const outcomes = await Promise.allSettled(ids.map((id, n) => strata.set(items, { id, n })));
  expect(outcomes.map((o) => o.status)).toEqual([
    'fulfilled',
    'fulfilled',
    'rejected',
    'fulfilled',
    'fulfilled',
  ]);
  expect((outcomes[2] as PromiseRejectedResult).reason.code).toBe('VALIDATION_FAILED');
  // One batch (refused, its rows withdrawn: drop), then each call alone (the refused one withdrawn).
  expect(l2.ran.filter((c) => c === 'ordered-put')).toHaveLength(6);
  expect((await strataRejection(strata.get(items, 'bad'))).code).toBe('NOT_FOUND');
  await strata.flushDirty();
  for (const [n, id] of ids.entries())
    expect(await inPostgres(id)).toEqual(id === 'bad' ? undefined : { id, n });
  await strata.close();
});

it('sets and deletes made while a batch is out leave together: one script, one bus message per op', async () => {
  const { strata: unused, published, make } = await setup('mixed');
  await unused.close();
  const l2 = createIoredisL2(redisUrl);
  // The L2's scripts (named in `asked`) wait for `open` while it is held: a batch sent stays out.
  let open: Promise<void> | undefined;
  const asked: string[] = [];
  const strata = make({
    name: l2.name,
    getMany: (keys) => l2.getMany(keys),
    run: async (script, keys, args) => {
      asked.push(script.name);
      await open;
      return l2.run(script, keys, args);
    },
    close: () => l2.close(),
  });
  await strata.setMany(items, [
    { id: 'm3', n: 3 },
    { id: 'm4', n: 4 },
  ]);
  let release!: () => void;
  open = new Promise((r) => {
    release = r;
  });
  asked.length = 0;
  published.length = 0;
  const first = strata.set(items, { id: 'm0', n: 0 });
  // Once this turn's promise jobs have run (no I/O in between: the script is held), it is out.
  const turn = () => new Promise((r) => setImmediate(r));
  await turn();
  expect(asked).toEqual(['ordered-put-enqueue']);
  const rest = [
    strata.set(items, { id: 'm1', n: 1 }),
    strata.delete(items, 'm3'),
    strata.set(items, { id: 'm2', n: 2 }),
    strata.delete(items, 'm4'),
  ];
  await turn(); // all four wait for it
  expect(asked).toEqual(['ordered-put-enqueue']);
  release();
  expect(await first).toEqual({ id: 'm0', n: 0 });
  expect(await Promise.all(rest)).toEqual([{ id: 'm1', n: 1 }, true, { id: 'm2', n: 2 }, true]);
  expect(asked).toEqual(['ordered-put-enqueue', 'ordered-put-enqueue']);
  expect(published.map((m) => [...(m.ids ?? [])].sort())).toEqual([['m0'], ['m1', 'm2'], ['m3', 'm4']]);
  expect(new Set(published.flatMap((m) => m.versions)).size).toBe(5);
  expect((await strataRejection(strata.get(items, 'm3'))).code).toBe('NOT_FOUND');
  await strata.flushDirty();
  expect(await inPostgres('m1')).toEqual({ id: 'm1', n: 1 });
  expect(await inPostgres('m2')).toEqual({ id: 'm2', n: 2 });
  expect(await inPostgres('m3')).toBeUndefined();
  expect(await inPostgres('m4')).toBeUndefined();
  await strata.close();
});
