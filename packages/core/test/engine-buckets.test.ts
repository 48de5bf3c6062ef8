import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyChanges } from '../src/admin.js';
import { relayKeys } from '../src/capture/relay-keys.js';
import type { ChangeSource } from '../src/capture/types.js';
import {
  type CapturedChange,
  changeRelay,
  clusterBuckets,
  defineSchema,
  isStrataError,
  Q,
  Strata,
  type StrataConfig,
} from '../src/index.js';
import { decodeEnvelope } from '../src/l2/envelope.js';
import { noopLogger } from '../src/observability/logger.js';
import { fourBuckets, fourRouter, idsOverBuckets } from './support/buckets.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { wrapL2Run } from './support/wrap.js';

/**
 * A version of changes made outside Strata above every write of these tests: a write ordered by
 * Postgres goes no lower than its table's latest epoch (2^36 per epoch), which earlier writes started.
 */
const ABOVE_EVERY_WRITE = 2 ** 52;

// config.buckets over the real tiers (Upstash REST over real Redis; buckets are key names, so one
// Redis serves them as a Cluster would): an app of one bucket (the default) writes exactly the keys
// it wrote before buckets existed; with four, rows, reads, invalidations, resets and the change
// relay go by bucket. The names alone: key-layout-buckets.test.ts.

let stack: EngineStack;

beforeAll(async () => {
  stack = await engineStack('engine_buckets');
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
});
afterAll(async () => {
  await stack?.cleanup(); // bucketed keys (`{name…#b}`) too
});

const schema = () => defineSchema({ table: stack.tables.players, tags: (row) => [`level:${row.level}`] });

describe('config.buckets', () => {
  it.each([
    ['left out', {}, 'd'],
    ['1', { buckets: 1 }, 'one'],
  ])('%s: every key the engine writes is the unbucketed name, byte for byte', async (_, extra, suffix) => {
    const p = `${stack.keyPrefix}${suffix}`;
    const s = schema();
    const strata = new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: p, schemas: [s], ...extra });
    await strata.setMany(s, [
      { id: 'k1', username: `k1${suffix}`, level: 3 },
      { id: 'k2', username: `k2${suffix}`, level: 4 },
    ]);
    await strata.invalidate(s, 'k1');
    expect((await strata.get(s, 'k1'))?.level).toBe(3);
    const query = Q().where('level = $1', 4).tags('level:4').build();
    expect((await strata.searchCached(s, query)).map((r) => r.id)).toEqual(['k2']);
    await strata.invalidateTags(['level:3']);
    await strata.invalidateAll(s);
    await strata.settled();
    await strata.close();

    const base = `${p}:${s.identity}`;
    const shape = `${base}:${s.fingerprint}-json`;
    const keys = (await stack.redis.keys(`${p}:*`)).map((k) => k.replace(/:q2:[0-9a-f]{64}$/, ':q2:<hash>'));
    expect(keys.sort()).toStrictEqual(
      [
        `${p}:boot`,
        `${p}:tick`,
        `${p}:l3`,
        `${p}:tagclock`,
        `${p}:tag:level:3`,
        `${p}:tag:level:4`, // the query's tag, put at the clock when the list read it missing
        `${base}:gen`,
        `${base}:gen:w`, // the ticks of its last writes (see WROTE, l2/scripts.ts): no TTL
        `${base}:l3`, // the base's claim (which table and database hold it): one per schema
        `${base}:sgen`,
        `${base}:shapes`,
        `${base}:writer`,
        `${shape}:r:k1`,
        `${shape}:r:k2`,
        `${shape}:q2:<hash>`,
      ].sort(),
    );
  });

  it.each([0, 2.5, -1, 1025, '4', null])(
    'refuses buckets: %j as INVALID_CONFIG naming the field',
    (buckets) => {
      const refusal = refused({ buckets: buckets as number });
      expect(refusal.code).toBe('INVALID_CONFIG');
      expect(refusal.details).toStrictEqual({ field: 'buckets' });
    },
  );

  it('four buckets: each row lives under its bucket, getMany sends one MGET per bucket touched', async () => {
    const p = `${stack.keyPrefix}four`;
    const s = plain();
    const a = four(p, s);
    const router = fourRouter(p, s);
    const ids = idsOverBuckets(router, 'b', 48); // every bucket has some
    await a.setMany(
      s,
      ids.map((id, i) => ({ id, username: `${p}-${id}`, level: i })),
    );
    const buckets = ids.map((id) => router.bucket(id));
    expect(new Set(buckets).size).toBe(4);
    const shape = (b: number) => `{${p}#${b}}:${s.identity}:${s.fingerprint}-json`;
    for (const [i, id] of ids.entries())
      expect(await stack.redis.exists(`${shape(buckets[i]!)}:r:${id}`), id).toBe(1);
    // Every key the app wrote carries its bucket's hash tag; none is outside the four.
    const written = await stack.redis.keys(`*${p}*`);
    expect(written.every((k) => /^\{[^}]*#[0-3]\}:/.test(k) && k.startsWith(`{${p}#`))).toBe(true);
    expect(written.filter((k) => k.includes(':r:')).sort()).toStrictEqual(
      ids.map((id, i) => `${shape(buckets[i]!)}:r:${id}`).sort(),
    );

    // A fresh instance (empty L1): every row from L2, one MGET per bucket, no Postgres read.
    const b = four(p, s);
    const some = ids.filter((_, i) => buckets[i] !== 3);
    stack.reset();
    const rows = await b.getMany(s, some);
    expect(rows.map((row) => row?.username)).toStrictEqual(some.map((id) => `${p}-${id}`));
    expect(stack.l2Commands.filter((c) => c === 'mget')).toHaveLength(3);
    expect(stack.statementsOn('players')).toHaveLength(0);

    // deleteMany across buckets: gone for another fresh instance, whatever the bucket. One id of
    // each bucket (the key prefix, so the buckets, is random: b0..b3 shared one bucket in 1 run of 64).
    const gone = [0, 1, 2, 3].map((k) => ids[buckets.indexOf(k)]!);
    await a.deleteMany(s, gone);
    const c = four(p, s);
    const after = await c.getMany(s, ids);
    expect(ids.filter((_, i) => after[i] !== null)).toStrictEqual(ids.filter((id) => !gone.includes(id)));
    expect(new Set(gone.map((id) => router.bucket(id))).size).toBe(4);
    await Promise.all([a, b, c].map((x) => x.close()));
  });

  it('invalidateAll moves the generation of every bucket before it resolves', async () => {
    const p = `${stack.keyPrefix}inv`;
    const s = plain();
    const a = four(p, s);
    const ids = Array.from({ length: 12 }, (_, i) => `i${i}`);
    await a.setMany(
      s,
      ids.map((id) => ({ id, username: `${p}-${id}`, level: 1 })),
    );
    const generations = () =>
      Promise.all(
        [0, 1, 2, 3].map(async (b) => Number(await stack.redis.get(`{${p}#${b}}:${s.identity}:gen`))),
      );
    const before = await generations();
    await a.invalidateAll(s);
    const moved = await generations();
    for (const [b, g] of moved.entries()) expect(g, `bucket ${b}`).toBeGreaterThan(before[b]!);
    // No row of any bucket is served from L2 after it: a fresh instance reads Postgres for all.
    stack.reset();
    const rows = await four(p, s).getMany(s, ids);
    expect(rows.filter((row) => row !== null)).toHaveLength(12);
    expect(stack.statementsOn('players').length).toBeGreaterThan(0);
    await a.close();
  });

  it('applyChanges over four buckets: each changed key is marked superseded in its own bucket', async () => {
    const p = `${stack.keyPrefix}chg`;
    const s = plain();
    const a = four(p, s);
    const router = fourRouter(p, s);
    // Five changed ids in each bucket, the rest unchanged: the prefix is random, so the buckets of
    // a fixed list of ids are too (20 fixed ids missed a bucket in about 1 run of 75).
    const ids: string[] = [];
    const changed: string[] = [];
    const perBucket = [0, 0, 0, 0];
    for (let i = 0; ids.length < 48 || perBucket.some((n) => n < 5); i++) {
      const id = `c${i}`;
      ids.push(id);
      const b = router.bucket(id);
      if (perBucket[b]! < 5) {
        perBucket[b]!++;
        changed.push(id);
      }
    }
    const unchanged = ids.filter((id) => !changed.includes(id));
    await a.setMany(
      s,
      ids.map((id) => ({ id, username: `${p}-${id}`, level: 5 })),
    );
    expect(new Set(changed.map((id) => router.bucket(id))).size).toBe(4);
    // Changes made outside Strata, at versions above every write: one MARK per bucket.
    await applyChanges(a, [
      { schema: s.identity, ids: changed, versions: changed.map(() => ABOVE_EVERY_WRITE), op: 'update' },
    ]);
    for (const id of changed) {
      const value = await stack.redis.get(router.of(id).row(id));
      expect(decodeEnvelope(value ?? '')).toMatchObject({ kind: 'x', version: ABOVE_EVERY_WRITE });
    }
    // A fresh instance: the changed rows from Postgres, the others from L2.
    const b = four(p, s);
    const statements = stack.statementsOn('players').length;
    expect((await b.getMany(s, unchanged)).every((row) => row !== null)).toBe(true);
    expect(stack.statementsOn('players').length).toBe(statements);
    expect((await b.getMany(s, changed)).map((row) => row?.id)).toStrictEqual(changed);
    expect(stack.statementsOn('players').length).toBeGreaterThan(statements);
    await Promise.all([a.close(), b.close()]);
  });

  it('a change of 2,500 keys over four buckets: one MARK per bucket (each at most 1,000 keys), not one per bucket for every 1,000 keys', async () => {
    const p = `${stack.keyPrefix}big`;
    const s = plain();
    const marks: number[] = []; // the row keys of each MARK sent
    const l2 = wrapL2Run(stack.l2, (script, keys, run) => {
      if (script.name === 'mark') marks.push(keys.filter((key) => key.includes(':r:')).length);
      return run();
    });
    const a = four(p, s, { l2 });
    const ids = Array.from({ length: 2_500 }, (_, i) => `b${i}`);
    await applyChanges(a, [{ schema: s.identity, ids, versions: ids.map(() => 7), op: 'update' }]);
    expect(marks).toHaveLength(4);
    expect(marks.reduce((x, y) => x + y)).toBe(ids.length);
    expect(Math.max(...marks)).toBeLessThanOrEqual(1_000);
    await a.close();
  });

  it("a shard restored alone (its bucket's tick went back) resets exactly its bucket", async () => {
    const p = `${stack.keyPrefix}rst`;
    const s = plain();
    const resets: unknown[] = [];
    const logger = {
      ...noopLogger,
      warn: (message: string, fields?: Record<string, unknown>) => {
        if (message.startsWith('L2 was reset')) resets.push(fields?.why);
      },
    };
    const a = four(p, s, { logger });
    const ids = Array.from({ length: 12 }, (_, i) => `r${i}`);
    const router = fourRouter(p, s);
    await a.setMany(
      s,
      ids.map((id) => ({ id, username: `${p}-${id}`, level: 2 })),
    );
    const gen = (b: number) => stack.redis.get(`{${p}#${b}}:${s.identity}:gen`);
    const before = await Promise.all([0, 1, 2, 3].map(gen));
    // The shard of r0's bucket came back from an older snapshot: its tick is behind what a saw.
    const target = router.bucket('r0');
    const others = [0, 1, 2, 3].filter((b) => b !== target);
    await stack.redis.set(`{${p}#${target}}:tick`, '1');
    await a.invalidate(s, 'r0');
    expect(resets).toHaveLength(1);
    expect(resets[0]).toMatch(/^Redis went back in time \(tick 2, \d+ seen before\)$/);
    // The reset's generation move is due at the bucket's next use: a read of every row.
    const rows = await a.getMany(s, ids);
    expect(rows.map((row) => row?.username)).toStrictEqual(ids.map((id) => `${p}-${id}`));
    const after = await Promise.all([0, 1, 2, 3].map(gen));
    expect(Number(after[target])).toBeGreaterThan(Number(before[target]));
    expect(others.map((b) => after[b])).toStrictEqual(others.map((b) => before[b]));
    expect(resets).toHaveLength(1);
    await a.close();
  });

  it("searchCached over four buckets: the list is stored with every bucket's search generation, and a write in any bucket makes it a miss", async () => {
    const p = `${stack.keyPrefix}srch`;
    const s = plain();
    const a = four(p, s);
    const router = fourRouter(p, s);
    const ids = idsOverBuckets(router, 's', 48); // every bucket has some
    await a.setMany(
      s,
      ids.map((id) => ({ id, username: `${p}-${id}`, level: 50 })),
    );
    const query = Q().where('level = $1', 50).orderBy('id').build();
    const search = async (node: Strata) => {
      const before = stack.statementsOn('players').length;
      const rows = (await node.searchCached(s, query)).map((r) => `${r.id}:${r.username}`).sort();
      await node.settled();
      return { rows, fromL3: stack.statementsOn('players').length > before };
    };
    const expected = () => ids.map((id) => `${id}:${names.get(id) ?? `${p}-${id}`}`).sort();
    const names = new Map<string, string>();
    expect(await search(a)).toStrictEqual({ rows: expected(), fromL3: true });
    // Cached: in one bucket (its query's), for this instance and a fresh one.
    expect(await search(a)).toStrictEqual({ rows: expected(), fromL3: false });
    expect(await search(four(p, s))).toStrictEqual({ rows: expected(), fromL3: false });
    const lists = await stack.redis.keys(`*${p}*:q2:*`);
    expect(lists).toHaveLength(1);
    expect(lists[0]).toMatch(new RegExp(`^\\{${p}#[0-3]\\}:`));
    const home = Number(/#(\d)\}/.exec(lists[0]!)![1]);
    // A write in each bucket in turn (the list's own and every other): the next search misses and
    // has it, then the list is cached again.
    for (let b = 0; b < 4; b++) {
      const id = ids.find((x) => router.bucket(x) === b)!;
      names.set(id, `${p}-${id}-w${b}`);
      await a.set(s, { id, username: names.get(id)!, level: 50 });
      expect(await search(a), `a write in bucket ${b} (the list's: ${home})`).toStrictEqual({
        rows: expected(),
        fromL3: true,
      });
      expect(await search(a)).toStrictEqual({ rows: expected(), fromL3: false });
    }
    await a.invalidateAll(s);
    expect(await search(a)).toStrictEqual({ rows: expected(), fromL3: true });
    await a.close();
  });

  // Write-behind and L2-only schemas are split by bucket: engine-buckets-write-behind.test.ts.
  it('the change relay over four buckets: its state in bucket 0, each key marked in its bucket, the cursor stored only once every bucket took its markers', async () => {
    const p = `${stack.keyPrefix}relay`;
    const s = plain();
    const log: CapturedChange[] = [];
    const source: ChangeSource = {
      name: 'array',
      start: async () => String(log.length),
      read: async (cursor) => ({
        changes: log.slice(Number(cursor)),
        cursor: String(log.length),
        gap: false,
      }),
    };
    // The real L2, whose MARK of one bucket fails while `down` names it (that bucket's shard is
    // down); closing the instance leaves the stack's L2 open.
    let down: number | undefined;
    const l2 = wrapL2Run(stack.l2, (script, keys, run) =>
      script.name === 'mark' && down !== undefined && keys[0]!.startsWith(`{${p}#${down}}:`)
        ? Promise.reject(new Error(`bucket ${down}: shard down`))
        : run(),
    );
    const a = four(p, s, { l2, capture: { source, relay: changeRelay({ interval: '1h' }) } });
    expect(await a.relayChanges()).toEqual({ status: 'applied', changes: 0, gap: true });
    const state = relayKeys(p, 4);
    expect(state).toStrictEqual({
      cursor: `{${p}#0}:changes:cursor`,
      movedAt: `{${p}#0}:changes:at`,
      lease: `{${p}#0}:changes:lease`,
    });
    expect(await stack.redis.get(state.cursor)).toBe('0');
    expect(await stack.redis.keys(`${p}:changes:*`)).toStrictEqual([]);

    const router = fourRouter(p, s);
    const ids = idsOverBuckets(router, 'v', 40);
    await a.setMany(
      s,
      ids.map((id) => ({ id, username: `${p}-${id}`, level: 1 })),
    );
    expect(new Set(ids.map((id) => router.bucket(id))).size).toBe(4);
    log.push({ schema: s.identity, ids, versions: ids.map(() => ABOVE_EVERY_WRITE), op: 'update' });
    const marked = async () => {
      const values = await Promise.all(ids.map((id) => stack.redis.get(router.of(id).row(id))));
      return values.map((value) => decodeEnvelope(value ?? '')?.kind === 'x');
    };
    // Bucket 2 fails: the pass fails, the other buckets are marked, the cursor stays.
    down = 2;
    const failed = await a.relayChanges();
    expect(failed?.status).toBe('failed');
    expect(isStrataError(failed?.status === 'failed' ? failed.error : undefined, 'L2_UNAVAILABLE')).toBe(
      true,
    );
    expect(await marked()).toStrictEqual(ids.map((id) => router.bucket(id) !== 2));
    expect(await stack.redis.get(state.cursor)).toBe('0');
    expect(await stack.redis.exists(state.lease)).toBe(0);
    // Back: the next pass applies the page again, in every bucket, then moves the cursor.
    down = undefined;
    expect(await a.relayChanges()).toEqual({ status: 'applied', changes: 1, gap: false });
    expect(await stack.redis.get(state.cursor)).toBe('1');
    expect(await marked()).toStrictEqual(ids.map(() => true));
    await a.close();
  });

  it('tags over four buckets: invalidateTags drops the tagged rows of every bucket and the tagged lists; the tags live in bucket 0', async () => {
    const p = `${stack.keyPrefix}tags`;
    const s = schema(); // rows tagged level:{level}
    const a = four(p, s);
    const ids = Array.from({ length: 16 }, (_, i) => `t${i}`);
    const router = fourRouter(p, s);
    const level = (i: number) => 10 + (i % 2); // two tags, each on rows of several buckets
    await a.setMany(
      s,
      ids.map((id, i) => ({ id, username: `${p}-${id}`, level: level(i) })),
    );
    expect(
      new Set(ids.filter((_, i) => level(i) === 10).map((id) => router.bucket(id))).size,
    ).toBeGreaterThan(1);
    const b = four(p, s);
    const fromL3 = async (read: () => Promise<unknown>) => {
      const before = stack.statementsOn('players').length;
      await read();
      await b.settled();
      return stack.statementsOn('players').length > before;
    };
    const tagged = Q().where('level = $1', 10).tags('level:10').build();
    expect(await fromL3(() => b.getMany(s, ids))).toBe(false); // from L2 (a's writes)
    expect(await fromL3(() => b.searchCached(s, tagged))).toBe(true);
    expect(await fromL3(() => b.searchCached(s, tagged))).toBe(false);

    stack.reset();
    await a.invalidateTags(['level:10']);
    expect(stack.l2Requests).toHaveLength(1); // one BUMP_TAGS: the clock and the tags in one slot
    expect(await stack.redis.get(`{${p}#0}:tag:level:10`)).not.toBeNull();
    expect(await stack.redis.get(`{${p}#0}:tagclock`)).not.toBeNull();
    // level:11 too, put at the clock when first read (a tag read missing is taken as moved then).
    expect((await stack.redis.keys(`*${p}*:tag:*`)).sort()).toStrictEqual([
      `{${p}#0}:tag:level:10`,
      `{${p}#0}:tag:level:11`,
    ]);

    // A fresh instance: the level:10 rows of every bucket come from Postgres, the others from L2.
    const c = four(p, s);
    const statements = stack.statementsOn('players').length;
    const rows = await c.getMany(s, ids);
    expect(rows.map((row) => row?.level)).toStrictEqual(ids.map((_, i) => level(i)));
    const reads = stack.statementsOn('players').slice(statements);
    expect(reads).toHaveLength(1);
    const c2 = four(p, s);
    expect(
      await fromL3(() =>
        c2.getMany(
          s,
          ids.filter((_, i) => level(i) === 11),
        ),
      ),
    ).toBe(false);
    // The tagged list is a miss after the move, on the instance that cached it.
    expect(await fromL3(() => b.searchCached(s, tagged))).toBe(true);
    await Promise.all([a, b, c, c2].map((x) => x.close()));
  });

  it('refuses more than one bucket without config.bucketing (what buckets need is passed in), nothing written', async () => {
    const p = `${stack.keyPrefix}nb`;
    const refusal = refused({ buckets: 4, bucketing: undefined, keyPrefix: p, schemas: [plain()] });
    expect(refusal.code).toBe('INVALID_CONFIG');
    expect(refusal.details).toStrictEqual({ field: 'bucketing' });
    expect(refusal.message).toBe(
      'strata: config.buckets: more than one needs config.bucketing: clusterBuckets',
    );
    expect(await stack.redis.keys(`*${p}*`)).toStrictEqual([]);
    // One bucket needs none.
    await new Strata({ l2: stack.l2, keyPrefix: p, buckets: 1 }).close();
  });

  it('refuses a keyPrefix with its own hash tag', () => {
    const tagged = refused({ buckets: 4, keyPrefix: `{${stack.keyPrefix}}`, schemas: [plain()] });
    expect(tagged.details).toStrictEqual({ field: 'keyPrefix' });
    expect(tagged.message).toContain(
      'config.keyPrefix: has a hash tag: with buckets, Strata adds one per bucket',
    );
  });
});

const plain = () => defineSchema({ table: stack.tables.players });

const four = (keyPrefix: string, s: ReturnType<typeof plain>, extra: Partial<StrataConfig> = {}) =>
  fourBuckets(stack, keyPrefix, s, extra);

function refused(extra: Partial<ConstructorParameters<typeof Strata>[0]>) {
  try {
    new Strata({ l2: stack.l2, l3: stack.l3, bucketing: clusterBuckets, ...extra });
  } catch (err) {
    if (isStrataError(err)) return err;
    throw err;
  }
  throw new Error('not refused');
}
