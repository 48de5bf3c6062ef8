import { createIoredisL2, createRedisStreamQueue } from '@strata/adapter-node/redis-tcp';
import { defineSchema, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { uniqueName } from '@strata/devstack/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, faultScratch, Tally } from '../support/fault-harness.js';
import { type RedisProcess, startRedisProcess } from '../support/redis-process.js';

// Issue 12 item 2: two apps with write-behind on one Redis, each with a table `items` in a Postgres
// schema of its own under the same Strata schema name. Before the issue (one default stream and
// group, queue messages naming only the Strata schema name) app A's flusher applied B's writes to
// A's table.

const DEADLINE = 5_000;
const instances: Strata[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  await Promise.allSettled(instances.splice(0).map((s) => s.close()));
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

function track(strata: Strata): Strata {
  instances.push(strata);
  return strata;
}

type Written = { n: number; label: string };

/**
 * Apps `a` and `b` on one Redis, each with write-behind through the Redis Stream queue and a table
 * `items` in a Postgres schema of its own, under the same Strata schema name. `samePrefix`: both
 * apps have one keyPrefix, hence one stream and one consumer group.
 */
async function twoApps(redisUrl: string, samePrefix: boolean) {
  const prefix = uniqueName('reg_apps');
  const apps = await Promise.all(
    (['a', 'b'] as const).map(async (app) => {
      const store = await faultScratch(`reg_app_${app}`);
      cleanups.push(() => store.cleanup());
      const keyPrefix = samePrefix ? prefix : `${prefix}_${app}`;
      const schema = defineSchema({ table: store.table, name: 'items', writeMode: 'write-behind' });
      const open = () => {
        const queue = createRedisStreamQueue({ url: redisUrl, keyPrefix, allowVolatile: true });
        const l3 = createDrizzleL3(store.db, { migrationsSchema: store.name });
        const strata = track(
          new Strata({
            l2: createIoredisL2(redisUrl),
            l3,
            keyPrefix,
            writeBehind: { queue },
            schemas: [schema],
          }),
        );
        return { strata, queue };
      };
      return { app, store, schema, open, ...open(), acked: new Map<string, Written>() };
    }),
  );
  return apps as [(typeof apps)[0], (typeof apps)[0]];
}
type App = Awaited<ReturnType<typeof twoApps>>[0];

/** `app` writes `id`; the write must be acknowledged. */
async function write(t: Tally, app: App, id: string, n: number): Promise<void> {
  const label = `app-${app.app}`;
  const r = await t.run(app.strata.set(app.schema, { id, n, label }), DEADLINE);
  expect(codeOf(r), `${app.app} set ${id}`).toBe('OK');
  app.acked.set(id, { n, label });
  t.writesAcknowledged++;
}

describe('two apps with write-behind on one Redis', () => {
  // A redis-server of this file's own: the apps' streams, groups and keys are all there, and go with it.
  let redis: RedisProcess;
  beforeAll(async () => {
    redis = await startRedisProcess();
  });
  afterAll(async () => {
    await redis?.close();
  });

  it.each([
    ['each with its own keyPrefix', false],
    ['both with the same keyPrefix (one stream, one consumer group)', true],
  ])(
    'issue 12 item 2: two apps on one Redis, %s: each acknowledged write lands in its own app’s table only',
    async (_, samePrefix) => {
      const t = new Tally(
        'faults',
        `two apps, write-behind on one Redis: ${samePrefix ? 'same' : 'own'} keyPrefix`,
      );
      const [a, b] = await twoApps(redis.url, samePrefix);
      // Interleaved: ids both apps write (with different values), and ids only one app writes.
      for (let i = 0; i < 12; i++) {
        await write(t, a, `both-${i % 6}`, 100 + i);
        await write(t, b, `both-${i % 6}`, 200 + i);
        await write(t, a, `only-a-${i % 3}`, 300 + i);
        await write(t, b, `only-b-${i % 3}`, 400 + i);
      }

      // Both flush until both queues are empty (bounded). With one shared stream each app's flusher
      // is handed the other's writes too: it must leave them for the other app.
      const flushes: string[] = [];
      for (let round = 0; round < 10; round++) {
        for (const app of [a, b])
          flushes.push(`${app.app}:${codeOf(await t.run(app.strata.flushDirty(), 10_000))}`);
        if ((await a.queue.pending()) === 0 && (await b.queue.pending()) === 0) break;
      }
      expect([await a.queue.pending(), await b.queue.pending()], `flushes: ${flushes.join(', ')}`).toEqual([
        0, 0,
      ]);

      // Each table holds exactly its app's last acknowledged writes: none of the other app's.
      let found = 0;
      for (const app of [a, b]) {
        const { rows } = await app.store.pool.query<{ id: string } & Written>(
          `select id, n, label from "${app.store.name}".items order by id`,
        );
        const stored = new Map(rows.map(({ id, n, label }) => [id, { n, label }]));
        expect(Object.fromEntries(stored), `app ${app.app}'s table`).toEqual(Object.fromEntries(app.acked));
        for (const [id, w] of app.acked) if (stored.get(id)?.n === w.n) found++;
      }
      // A fresh instance of each app (empty L1) reads its own app's values, never the other's.
      for (const [app, other] of [
        [a, b],
        [b, a],
      ] as const) {
        const fresh = app.open().strata;
        for (const id of new Set([...app.acked.keys(), ...other.acked.keys()])) {
          const r = await t.run(fresh.find(app.schema, id), DEADLINE);
          expect(codeOf(r)).toBe('OK');
          const row = 'ok' in r && r.ok ? r.value : undefined;
          expect(row ? { n: row.n, label: row.label } : null, `app ${app.app} reads ${id}`).toEqual(
            app.acked.get(id) ?? null,
          );
        }
      }
      expect(a.strata.stats().deadLettered + b.strata.stats().deadLettered).toBe(0);
      expect(t.hangs).toBe(0);
      expect(t.unhandledRejections).toBe(0);
      t.finish({ writesFound: found === a.acked.size + b.acked.size ? t.writesAcknowledged : found });
    },
  );

  it('issue 12 item 2: with one shared stream, one app’s flushDirty() and close() succeed while the queue holds the other app’s writes', async () => {
    const t = new Tally('faults', 'two apps, one shared stream: flushDirty/close of one app');
    const [a, b] = await twoApps(redis.url, true);
    for (let i = 0; i < 3; i++) {
      await write(t, b, `b-${i}`, i);
      await write(t, a, `a-${i}`, i);
    }
    const flushed = await t.run(a.strata.flushDirty(), 10_000);
    const closed = await t.run(a.strata.close(), 10_000);
    // B's writes were left for B: B flushes them into its own table.
    expect(codeOf(await t.run(b.strata.flushDirty(), 10_000))).toBe('OK');
    for (const app of [a, b])
      expect(await app.store.stored()).toEqual(new Map([...app.acked].map(([id, w]) => [id, w.n])));
    t.finish({ writesFound: t.writesAcknowledged });
    expect({ flushDirty: codeOf(flushed), close: codeOf(closed) }).toEqual({ flushDirty: 'OK', close: 'OK' });
  });
});
