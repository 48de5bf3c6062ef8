import {
  createIoredisL2,
  createRedisPubSubBus,
  createRedisStreamQueue,
} from '@strata/adapter-node/redis-tcp';
import { defineSchema, type L3Tier, Strata } from '@strata/core';
import { REPLACED_WAIT_MS } from '@strata/core/driver';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { dropScratchSchema, serviceUrls, uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AofRedis, startAofRedis } from '../support/deployment-redis.js';
import { wrapL3 } from '../support/wrap-l3.js';

// Helper "huntdeploy": combinations the deployment model (deployment-commands.ts) does not
// generate, on a Redis of the test's own (AOF, appendfsync always: a SIGKILL loses nothing) and
// three instances of one write-behind app with tags, clocks 10 s ahead, right and 7 s behind:
// - a queued set, a transaction over the same keys, invalidateTags of the rows' tag and a Redis
//   restart, in every order (the model has no tags, and its transactions never meet a restart
//   with a tag move between);
// - a flush whose batch committed in Postgres but whose reply was lost (the connection reset: the
//   flusher "crashed" mid-batch, nothing acknowledged in the stream), then a newer transaction and
//   a Redis restart, then the flush again (redelivery of the older batch).
// Checked: the writer reads its write at once, the others within BOUND_MS, and after every
// instance flushed, Postgres holds each key's last acknowledged write and every instance (and a
// fresh one reading L2) agrees with it.

const { databaseUrl } = serviceUrls();
const name = uniqueName('huntdeploy');
const admin = new pg.Pool({ connectionString: databaseUrl, max: 2 });
admin.on('error', () => {});
const table = pgSchema(name).table('items', {
  id: text('id').primaryKey(),
  n: integer('n').notNull(),
  league: text('league').notNull().default('7'),
});
const schema = defineSchema({
  table,
  writeMode: 'write-behind',
  tags: (row: { league: string }) => [`league:${row.league}`],
  l1: { ttl: '10m' },
});
/** How long another instance may still serve what a write replaced (bus delivery). */
const BOUND_MS = 1_000;
const OFFSETS = [10_000, 0, -7_000] as const;

let redis: AofRedis;
const opened: Strata[] = [];
const clients: Redis[] = [];
const pools: pg.Pool[] = [];
let run = 0;

beforeAll(async () => {
  redis = await startAofRedis();
  await admin.query(`create schema "${name}"`);
  await new Strata({
    l3: createDrizzleL3(drizzle({ client: admin }), { migrationsSchema: name }),
    schemas: [defineSchema({ table })], // migrate needs no queue: the table alone
  }).migrate();
});

afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((s) => s.close()));
  for (const c of clients.splice(0)) c.disconnect();
  await Promise.allSettled(pools.splice(0).map((p) => p.end()));
  await admin.query(`update "${name}"._strata_writers set expires_at = now() - interval '1 second'`);
});

afterAll(async () => {
  await dropScratchSchema(admin, name);
  await admin.end();
  await redis?.stop();
});

function client(): Redis {
  const c = new Redis(redis.url, { maxRetriesPerRequest: 0, protocol: 2 } as never);
  c.on('error', () => {});
  clients.push(c);
  return c;
}

/** While `armed`, the next L3 write commits in Postgres and then fails as a reset connection would. */
interface LostReply {
  armed: boolean;
}

function lostReplies(base: L3Tier, lost: LostReply | undefined): L3Tier {
  if (!lost) return base;
  return wrapL3(base, {
    write: async (ops) => {
      const reply = await base.write(ops);
      if (!lost.armed) return reply;
      lost.armed = false;
      throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', errno: -104, syscall: 'read' });
    },
  });
}

/** One instance of the app of this run (`keyPrefix`); its L3 loses a write's reply with `lostReply`. */
function instance(keyPrefix: string, offset: number, options: { lostReply?: LostReply; bus?: boolean } = {}) {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 3 });
  pool.on('error', () => {});
  pool.on('connect', (c) => c.on('error', () => {}));
  pools.push(pool);
  const strata = new Strata({
    l2: createIoredisL2(client()),
    l3: lostReplies(
      createDrizzleL3(drizzle({ client: pool }), { migrationsSchema: name }),
      options.lostReply,
    ),
    keyPrefix,
    ...(offset !== 0 && { clock: { now: () => Date.now() + offset } }),
    ...(options.bus !== false && { coherence: { bus: createRedisPubSubBus({ redis: client() }) } }),
    writeBehind: { queue: createRedisStreamQueue({ redis: client(), keyPrefix }), threshold: 1_000_000 },
    timeouts: { l2: 2_000, l3: '10s', queue: '5s' },
    schemas: [schema],
  });
  opened.push(strata);
  return strata;
}

async function three(options: { lostReply?: LostReply } = {}) {
  run += 1;
  const keyPrefix = `${name}_${run}`;
  const all = OFFSETS.map((o, i) => instance(keyPrefix, o, i === 0 ? options : {}));
  for (const x of all) await x.find(schema, 'warm-up'); // subscribed, generation and tags known
  return { all, keyPrefix, id: (k: string) => `r${run}-${k}` };
}

const n = async (x: Strata, id: string) => (await x.find(schema, id))?.n ?? null;

async function restartRedis(all: readonly Strata[]): Promise<void> {
  const gaps = all.map((x) => x.stats().busGaps);
  await redis.kill();
  await redis.start();
  const deadline = Date.now() + 10_000;
  while (all.some((x, i) => x.stats().busGaps <= gaps[i]!)) {
    if (Date.now() > deadline) throw new Error('an instance never subscribed again after the restart');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Polls until every instance reads `want` for each id: the ms it took (with the reads that still
 * disagreed before, and the slowest read), or the disagreement once `ms` passed.
 */
async function converge(who: Record<string, Strata>, want: Record<string, number | null>, ms: number) {
  const started = Date.now();
  let before = '';
  /** The slowest single read: a read that waits (after a reset) shows here, not as a stale value. */
  let slowest = { ms: 0, read: '' };
  for (;;) {
    const seen: string[] = [];
    for (const [label, x] of Object.entries(who))
      for (const [id, v] of Object.entries(want)) {
        const t0 = Date.now();
        const got = await n(x, id);
        if (Date.now() - t0 > slowest.ms) slowest = { ms: Date.now() - t0, read: `${label} ${id}=${got}` };
        if (got !== v) seen.push(`${label} ${id}=${got} (want ${v})`);
      }
    if (seen.length === 0) return { ms: Date.now() - started, before, slowest };
    if (Date.now() - started > ms) return seen.join(', ');
    before = seen.join(', ');
    await new Promise((r) => setTimeout(r, 25));
  }
}

type Step = 'set' | 'tx' | 'tags' | 'restart';
function permutations(xs: readonly Step[]): Step[][] {
  if (xs.length <= 1) return [[...xs]];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
}

describe('write-behind x transaction x invalidateTags x Redis restart, in every order', () => {
  for (const order of permutations(['set', 'tx', 'tags', 'restart'])) {
    it(`${order.join(', ')}`, async () => {
      const { all, keyPrefix, id } = await three();
      const [a, b, c] = all as [Strata, Strata, Strata];
      const k = id('k');
      const j = id('j');
      const want: Record<string, number | null> = { [k]: 1, [j]: 1 };
      await a.setMany(schema, [
        { id: k, n: 1 },
        { id: j, n: 1 },
      ]);
      await a.flushDirty();
      for (const x of all) expect([await n(x, k), await n(x, j)]).toEqual([1, 1]); // every L1 holds them
      await a.set(schema, { id: j, n: 2 }); // queued: the transaction deletes it
      want[j] = 2;
      let level = 10;
      const late: string[] = [];
      for (const step of order) {
        if (step === 'set') {
          level += 1;
          await a.set(schema, { id: k, n: level });
          want[k] = level;
          expect(await n(a, k), 'A reads its queued set').toBe(level);
        } else if (step === 'tx') {
          level += 1;
          await b.tx().set(schema, { id: k, n: level }).delete(schema, j).commit();
          want[k] = level;
          want[j] = null;
          expect([await n(b, k), await n(b, j)], 'B reads its transaction').toEqual([level, null]);
        } else if (step === 'tags') {
          await c.invalidateTags(['league:7']);
        } else {
          await restartRedis(all);
        }
        const took = await converge({ A: a, B: b, C: c }, want, 5_000);
        if (typeof took === 'string') throw new Error(`after ${step}: ${took}`);
        // After a Redis reset a read may wait up to REPLACED_WAIT_MS for a writer to put its
        // pending row back (docs/semantics.md, Faults): the bound is that much longer then.
        const bound = step === 'restart' ? BOUND_MS + REPLACED_WAIT_MS : BOUND_MS;
        if (took.ms > bound)
          late.push(
            `after ${step}: ${took.ms} ms (before: ${took.before}; slowest read ${took.slowest.ms} ms, ${took.slowest.read})`,
          );
      }
      for (const x of all) await x.flushDirty();
      const { rows } = await admin.query<{ id: string; n: number }>(
        `select id, n from "${name}".items where id = any($1)`,
        [[k, j]],
      );
      const stored = Object.fromEntries([k, j].map((x) => [x, rows.find((r) => r.id === x)?.n ?? null]));
      expect(stored, 'Postgres holds the last acknowledged writes').toEqual(want);
      const fresh = instance(keyPrefix, 0, { bus: false });
      const took = await converge({ A: a, B: b, C: c, fresh }, want, BOUND_MS + 500);
      expect(typeof took === 'string' ? took : 'agree', 'every tier agrees with Postgres').toBe('agree');
      expect(late, 'the others read the writes within the bound').toEqual([]);
    });
  }
});

describe('a flush whose batch committed but whose reply was lost, then a newer write and a restart', () => {
  for (const newer of ['tx', 'queued set'] as const)
    for (const restartFirst of [false, true])
      it(`${newer}${restartFirst ? ', Redis restarted before it' : ', then Redis restarted'}`, async () => {
        const lostReply = { armed: false };
        const { all, keyPrefix, id } = await three({ lostReply });
        const [a, b, c] = all as [Strata, Strata, Strata];
        const keys = [id('k1'), id('k2'), id('k3')];
        await a.setMany(
          schema,
          keys.map((key) => ({ id: key, n: 1 })),
        );
        // A's flush: Postgres commits the batch, its reply is lost (the connection reset).
        lostReply.armed = true;
        const first = await a.flushDirty().then(
          () => 'ok',
          (err: unknown) => String((err as { code?: string }).code ?? err),
        );
        expect(lostReply.armed, "the flush's write was made").toBe(false);
        const want: Record<string, number | null> = Object.fromEntries(keys.map((key) => [key, 1]));
        if (restartFirst) await restartRedis(all);
        if (newer === 'tx')
          await b.tx().set(schema, { id: keys[1]!, n: 5 }).delete(schema, keys[2]!).commit();
        else {
          await b.set(schema, { id: keys[1]!, n: 5 });
          await b.delete(schema, keys[2]!);
        }
        want[keys[1]!] = 5;
        want[keys[2]!] = null;
        if (!restartFirst) await restartRedis(all);
        expect([await n(b, keys[1]!), await n(b, keys[2]!)], 'B reads its writes').toEqual([5, null]);
        // The flush again: A's older batch is delivered once more, B's writes go too.
        for (const x of all) await x.flushDirty();
        const { rows } = await admin.query<{ id: string; n: number }>(
          `select id, n from "${name}".items where id = any($1)`,
          [keys],
        );
        const stored = Object.fromEntries(keys.map((x) => [x, rows.find((r) => r.id === x)?.n ?? null]));
        expect(first, "A's flush was told nothing of its commit").toBe('L3_UNAVAILABLE');
        expect(stored, 'Postgres holds the last acknowledged writes').toEqual(want);
        const fresh = instance(keyPrefix, 0, { bus: false });
        const took = await converge({ A: a, B: b, C: c, fresh }, want, BOUND_MS + 500);
        expect(typeof took === 'string' ? took : 'agree', 'every tier agrees with Postgres').toBe('agree');
      });
});
