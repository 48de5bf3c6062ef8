import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { manualClock } from '../src/driver.js';
import {
  clusterBuckets,
  createMemoryQueue,
  defineSchema,
  isStrataError,
  Strata,
  type StrataConfig,
} from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { epochCounting } from './support/wrap.js';

// Epochs are finite (131,071 below 2^53, l3/epoch-span.ts). One app running a table in both modes
// (a write-through API beside a write-behind worker on one keyPrefix: docs/semantics.md, "One
// version order per app") flips `_strata_writers`' mode at every claim of the other mode. A
// write-through instance's claim takes an epoch only when the table was taken from ANOTHER app
// (writer-claim.ts: the row named another app, or the app's counters were not moved since: the
// row says so), never at a cold start of the app's own API. A write-through claim of
// an instance with L2 (`ordered`: its writes ordered by the app's counters) leaves the app's live
// write-behind row as it is, so the worker takes only its first seed per bucket; a claim without
// the flag (an older Strata, an instance without L2: it may have written Postgres-ordered versions)
// still flips the row, and the worker's next claim takes one per bucket (docs/semantics.md,
// "Takeover", the epoch rate of a mixed-mode app).

let stack: EngineStack;
const players = () => stack.tables.players;
const behind = () => defineSchema({ table: players(), writeMode: 'write-behind' });
const through = () => defineSchema({ table: players(), writeMode: 'write-through' });

beforeAll(async () => {
  stack = await engineStack('mixed_epochs');
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: players() })] }).migrate();
});
afterAll(() => stack?.cleanup());
beforeEach(() => stack.lapseClaims());

/**
 * One instance of app `keyPrefix`, with the epochs it took (its `nextEpoch` calls). `withoutL2`: its
 * writes are ordered by Postgres (`version + 1`), not by the app's counters, and its claims go
 * without `ordered`, as an older Strata's do.
 */
function instance(keyPrefix: string, extra: Partial<StrataConfig>, withoutL2 = false) {
  const { l3, epochs } = epochCounting(stack.l3);
  const strata = new Strata({
    ...(withoutL2 ? {} : { l2: stack.l2 }),
    l3,
    keyPrefix: `${stack.keyPrefix}${keyPrefix}`,
    writeBehind: { queue: createMemoryQueue() },
    ...extra,
  });
  return { strata, epochs };
}

/** The table's last epoch started, from Postgres (`_strata_versions`' epoch row). */
async function lastEpoch(): Promise<number> {
  const { rows } = await stack.pool.query<{ version: string }>(
    `select version::text as version from "${stack.name}"._strata_versions where schema = $1 and id = ''`,
    [behind().identity],
  );
  return Number(rows[0]?.version ?? 0);
}

describe.each([1, 4])('one app, both modes, %i bucket(s): the epochs its claims take', (buckets) => {
  it('renewals alternating N times, then K cold write-through instances each after a worker renewal', async () => {
    const N = 10;
    const K = 5;
    const prefix = `m${buckets}`;
    const clock = manualClock();
    const bucketing = buckets > 1 ? { buckets, bucketing: clusterBuckets } : {};
    const w = instance(prefix, { schemas: [behind()], clock, ...bucketing });
    const t = instance(prefix, { schemas: [through()], clock, ...bucketing });
    const before = await lastEpoch();
    let n = 0;
    const write = async (s: Strata, mode: 'behind' | 'through') => {
      n += 1;
      await s.set(mode === 'behind' ? behind() : through(), { id: `e${n % 8}`, username: `u${n}`, level: n });
      await s.settled();
    };
    await write(w.strata, 'behind'); // the app's first claim: its counters seeded (an epoch per bucket)
    await write(t.strata, 'through');
    // Renewals: each instance's write past 20 s renews its claim (without waiting for it).
    for (let i = 0; i < N; i++) {
      clock.advance(21_000);
      await write(w.strata, 'behind');
      await write(t.strata, 'through');
    }
    // Cold write-through instances (a serverless API's cold starts): the worker's flush round renews
    // first (it shares a write-behind claim, which a write-through instance does not trust).
    const cold = { epochs: 0 };
    for (let k = 0; k < K; k++) {
      clock.advance(21_000);
      await w.strata.flushDirty();
      await w.strata.settled();
      const fresh = instance(prefix, { schemas: [through()], clock, ...bucketing });
      await write(fresh.strata, 'through');
      cold.epochs += fresh.epochs.taken;
      await fresh.strata.close();
    }
    await w.strata.flushDirty();
    const took = { behind: w.epochs.taken, through: t.epochs.taken, cold: cold.epochs };
    const started = (await lastEpoch()) - before;
    // The write-through instances never take an epoch: the table was never another app's (before:
    // { through: 1, cold: 5 } per bucket, one per cold start after a worker renewal).
    expect({ through: took.through, cold: took.cold }, `epochs taken ${JSON.stringify(took)}`).toEqual({
      through: 0,
      cold: 0,
    });
    // The write-through instances' claims (all with L2: counter-ordered) leave the worker's live row
    // write-behind and seeded: the worker takes its first seed per bucket only (before, one per
    // bucket after each flip: at least 1 + N + K per bucket here).
    expect(took.behind).toBe(buckets);
    expect(started).toBe(took.behind);
    await w.strata.close();
    await t.strata.close();
  });
});

describe.each([1, 4])(
  'one app, both modes, %i bucket(s): write-through claims without `ordered` (an instance without L2)',
  (buckets) => {
    it('an older Strata’s (or no-L2) write-through claim still flips the row: the worker reseeds after each', async () => {
      const N = 3;
      const prefix = `u${buckets}`;
      const clock = manualClock();
      const bucketing = buckets > 1 ? { buckets, bucketing: clusterBuckets } : {};
      const w = instance(prefix, { schemas: [behind()], clock, ...bucketing });
      const t = instance(prefix, { schemas: [through()], clock, ...bucketing }, true);
      let n = 0;
      const write = async (s: Strata, mode: 'behind' | 'through') => {
        n += 1;
        await s.set(mode === 'behind' ? behind() : through(), {
          id: `u${n % 8}`,
          username: `u${n}`,
          level: n,
        });
        await s.settled();
      };
      await write(w.strata, 'behind');
      await write(t.strata, 'through');
      for (let i = 0; i < N; i++) {
        clock.advance(21_000);
        await write(w.strata, 'behind');
        await write(t.strata, 'through');
      }
      await w.strata.flushDirty();
      // Its first seed, then one per bucket after each of the N flips (the first flip's included).
      expect(w.epochs.taken).toBeGreaterThanOrEqual(buckets * (1 + N));
      expect(t.epochs.taken).toBe(0);
      await w.strata.close();
      await t.strata.close();
    });
  },
);

describe('write-through apps with no counter', () => {
  it('two write-through apps sharing the table: their cold claims take each other’s table and no epoch', async () => {
    const before = await lastEpoch();
    let epochs = 0;
    for (let k = 0; k < 4; k++) {
      for (const prefix of ['ta', 'tb']) {
        // A new instance each time (a cold start): no lease of its own, the row names the other app.
        const fresh = instance(prefix, { schemas: [through()], buckets: 4, bucketing: clusterBuckets });
        await fresh.strata.set(through(), { id: `w${k}${prefix}`, username: `w${k}${prefix}`, level: k });
        await fresh.strata.settled();
        epochs += fresh.epochs.taken;
        await fresh.strata.close();
      }
    }
    // Neither app has a counter to move (it never wrote the table write-behind): nothing to take.
    expect({ epochs, started: (await lastEpoch()) - before }).toEqual({ epochs: 0, started: 0 });
  });
});

describe('the cost: the app keeps the row write-behind while its write-through instances write', () => {
  it('the worker stopped, the API’s claim extends its lease, still write-behind: another app’s write-through claim is refused until it lapses', async () => {
    const w = instance('c', { schemas: [behind()] });
    await w.strata.set(behind(), { id: 'c1', username: 'c1', level: 1 });
    await w.strata.flushDirty();
    await w.strata.close(); // stopped for good
    const writers = `"${stack.name}"._strata_writers`;
    // The worker's lease about to end: the API's claim (a cold instance: Postgres) extends it.
    await stack.pool.query(
      `update ${writers} set expires_at = now() + interval '1 second' where schema = $1`,
      [behind().identity],
    );
    const t = instance('c', { schemas: [through()] });
    await t.strata.set(through(), { id: 'c2', username: 'c2', level: 1 });
    await t.strata.settled();
    const { rows } = await stack.pool.query<{ mode: string; seeded: boolean; left: number }>(
      `select mode, seeded, extract(epoch from expires_at - now())::float8 as left from ${writers} where schema = $1`,
      [behind().identity],
    );
    expect(rows[0]).toMatchObject({ mode: 'write-behind', seeded: true });
    expect(rows[0]!.left).toBeGreaterThan(30);
    const o = instance('o', { schemas: [through()] });
    const refused = await o.strata
      .set(through(), { id: 'o1', username: 'o1', level: 1 })
      .catch((e: unknown) => e);
    expect(isStrataError(refused, 'INVALID_CONFIG')).toBe(true);
    await stack.lapseClaims(); // the API stopped writing for 60 s
    await o.strata.set(through(), { id: 'o2', username: 'o2', level: 1 });
    await o.strata.close();
    await t.strata.close();
  });
});
