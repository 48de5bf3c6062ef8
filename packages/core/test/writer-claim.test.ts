import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { manualClock } from '../src/driver.js';
import { KeyRouter } from '../src/engine/buckets.js';
import {
  clusterBuckets,
  createMemoryQueue,
  defineSchema,
  isStrataError,
  Strata,
  type StrataConfig,
} from '../src/index.js';
import type { L3Tier } from '../src/l3/types.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { signal, wrapL3 } from './support/wrap.js';

// One app writes a table where its versions come from its own Redis counter (engine/writer-claim.ts):
// the claim in `_strata_writers`, taken at an instance's first write, renewed without waiting past
// 20 s (waited for past 50 s), renewed by flush rounds; an app taking a lapsed claim over moves every
// bucket's counter into a new epoch first, so its versions are above everything the old owner wrote.

let stack: EngineStack;
const players = () => stack.tables.players;
const behind = () => defineSchema({ table: players(), writeMode: 'write-behind' });

beforeAll(async () => {
  stack = await engineStack('writer_claim');
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: players() })] }).migrate();
});
afterAll(() => stack?.cleanup());
// Each test starts with the table free: no claim of an earlier test's app holds it.
beforeEach(() => stack.lapseClaims());

/** The stack's L3 counting claims and new epochs; `hold` keeps claims from answering until released. */
function countedL3() {
  const calls = { claims: 0, epochs: 0 };
  let gate: Promise<void> | undefined;
  let failing = false;
  const l3: L3Tier = wrapL3(stack.l3, {
    claimWriter: async (schema, owner, exclusive, seeded) => {
      calls.claims += 1;
      if (gate) await gate;
      if (failing) throw new Error('connection lost');
      return stack.l3.claimWriter!(schema, owner, exclusive, seeded);
    },
    nextEpoch: (schema) => {
      calls.epochs += 1;
      return stack.l3.nextEpoch(schema);
    },
  });
  return {
    l3,
    calls,
    hold(): () => void {
      const released = signal();
      gate = released.promise;
      return () => {
        gate = undefined;
        released.resolve();
      };
    },
    fail(on: boolean): void {
      failing = on;
    },
  };
}

function app(keyPrefix: string, l3: L3Tier, extra: Partial<StrataConfig> = {}): Strata {
  return new Strata({
    l2: stack.l2,
    l3,
    keyPrefix: `${stack.keyPrefix}${keyPrefix}`,
    writeBehind: { queue: createMemoryQueue() },
    ...extra,
  });
}

async function stored(id: string): Promise<{ level: number; version: number } | undefined> {
  const { rows } = await stack.pool.query<{ level: number; version: string }>(
    `select p.level, v.version::text as version from "${stack.name}".players p
     join "${stack.name}"._strata_versions v on v.id = p.id and v.schema = $2 where p.id = $1`,
    [id, behind().identity],
  );
  return rows[0] && { level: rows[0].level, version: Number(rows[0].version) };
}

describe('claim and renewal', () => {
  it('claims at the first write, renews once per 20 s window without waiting for it, and waits past 50 s', async () => {
    const clock = manualClock();
    const tier = countedL3();
    const schema = behind();
    const strata = app('renew', tier.l3, { schemas: [schema], clock });
    const write = (level: number) => strata.set(schema, { id: 'r1', username: 'r1', level });
    await write(1);
    // Claimed, and (a table new to this app) its counter moved into a new epoch, then said so.
    expect(tier.calls).toEqual({ claims: 2, epochs: 1 });
    clock.advance(19_000);
    await write(2);
    expect(tier.calls.claims).toBe(2); // inside the window: no round trip
    clock.advance(2_000);
    // Past 20 s: renewed, and the writes do not wait for it (they resolve while it is held).
    const release = tier.hold();
    await write(3);
    await write(4);
    expect(tier.calls.claims).toBe(3); // one renewal out at a time
    release();
    await strata.settled();
    await write(5);
    expect(tier.calls).toEqual({ claims: 3, epochs: 1 }); // a new window from the renewal; no new epoch
    // A flush round renews too (an app that only flushes keeps its claim).
    clock.advance(21_000);
    await strata.flushDirty();
    await strata.settled();
    expect(tier.calls.claims).toBe(4);
    // Past 50 s without a renewal the write waits for the claim: a claim that fails refuses it.
    clock.advance(51_000);
    tier.fail(true);
    const refused = await write(6).catch((e: unknown) => e);
    expect(isStrataError(refused, 'L3_UNAVAILABLE')).toBe(true);
    tier.fail(false);
    await strata.flushDirty();
    expect((await stored('r1'))?.level).toBe(5);
    await strata.close();
  });

  it('a write-through app claims too: next to it a write-behind app of another keyPrefix is refused, nothing written', async () => {
    const through = defineSchema({ table: players() });
    const wt = app('wt', stack.l3, { schemas: [through] });
    await wt.set(through, { id: 't1', username: 't1', level: 1 });
    const schema = behind();
    const wb = app('wb', stack.l3, { schemas: [schema] });
    const err = await wb.set(schema, { id: 't1', username: 't1', level: 2 }).catch((e: unknown) => e);
    expect(isStrataError(err, 'INVALID_CONFIG')).toBe(true);
    expect((err as Error).message).toContain(`${stack.keyPrefix}wt`);
    expect(wb.stats().dirtyCount).toBe(0);
    expect((await wb.get(schema, 't1')).level).toBe(1);
    await Promise.all([wt.close(), wb.close()]);
  });

  it("two write-through apps: the one the row names is refused write-behind while the other's claim lives", async () => {
    // `_strata_writers` names the last write-through claimer. Before `other`, app A (named there)
    // took the table write-behind beside app B's live write-through claim: B's writes, ordered by
    // Postgres alone (B has no counter of A's), were then lost under A's queued ones.
    const through = defineSchema({ table: players() });
    const b = app('wtb', stack.l3, { schemas: [through] });
    await b.set(through, { id: 'o1', username: 'o1', level: 1 });
    const a = app('wta', stack.l3, { schemas: [through] });
    await a.set(through, { id: 'o1', username: 'o1', level: 2 }); // the row names A now
    const schema = behind();
    const aBehind = app('wta', stack.l3, { schemas: [schema] });
    const err = await aBehind.set(schema, { id: 'o1', username: 'o1', level: 3 }).catch((e: unknown) => e);
    expect(isStrataError(err, 'INVALID_CONFIG'), String(err)).toBe(true);
    expect((err as Error).message).toContain(`${stack.keyPrefix}wtb`);
    expect(aBehind.stats().dirtyCount).toBe(0);
    // B stopped and its claim lapsed (A's renewed): A may now write the table write-behind.
    await Promise.all([b.close(), aBehind.close()]);
    await stack.lapseClaims();
    await a.set(through, { id: 'o1', username: 'o1', level: 4 });
    const again = app('wta', stack.l3, { schemas: [schema] });
    await again.set(schema, { id: 'o1', username: 'o1', level: 5 });
    await again.flushDirty();
    expect((await stored('o1'))?.level).toBe(5);
    await Promise.all([a.close(), again.close()]);
  });

  it('a _strata_writers made before its `other` columns gains them at the next claim', async () => {
    const through = defineSchema({ table: players() });
    const w = app('cols', stack.l3, { schemas: [through] });
    await w.set(through, { id: 'c1', username: 'c1', level: 1 });
    await stack.pool.query(
      `alter table "${stack.name}"._strata_writers drop column other, drop column other_until`,
    );
    await stack.lapseClaims();
    const fresh = app('cols', stack.l3, { schemas: [through] });
    await fresh.set(through, { id: 'c1', username: 'c1', level: 2 });
    const { rows } = await stack.pool.query<{ n: string }>(
      `select count(*)::text as n from information_schema.columns where table_schema = $1 and table_name = '_strata_writers' and column_name in ('other', 'other_until')`,
      [stack.name],
    );
    expect(rows[0]?.n).toBe('2');
    await Promise.all([w.close(), fresh.close()]);
  });
});

describe('takeover', () => {
  it("an app taking a lapsed claim over writes above the old owner's versions; the same app regaining its own does not reseed", async () => {
    const schema = behind();
    const a = app('a', stack.l3, { schemas: [schema] });
    await a.set(schema, { id: 'k', username: 'k', level: 1 });
    await a.flushDirty();
    await a.close();
    // b, while a holds the table: refused.
    const b = app('b', stack.l3, { schemas: [schema] });
    const refused = await b.set(schema, { id: 'k', username: 'k', level: 2 }).catch((e: unknown) => e);
    expect(isStrataError(refused, 'INVALID_CONFIG')).toBe(true);
    await stack.lapseClaims();
    await b.set(schema, { id: 'k', username: 'k', level: 2 });
    await b.flushDirty();
    const byB = (await stored('k'))!;
    expect(byB.level).toBe(2);
    await b.close();
    // a again (its counter still in Redis, in the epoch before b's): it must start a new epoch.
    await stack.lapseClaims();
    const tier = countedL3();
    const a2 = app('a', tier.l3, { schemas: [schema] });
    await a2.set(schema, { id: 'k', username: 'k', level: 3 });
    expect(tier.calls.epochs).toBe(1);
    await a2.flushDirty();
    const byA = (await stored('k'))!;
    expect(byA).toMatchObject({ level: 3 });
    expect(byA.version).toBeGreaterThan(byB.version);
    // Another instance of a (it trusts a2's claim, shared in L2: no claim of its own), and a once
    // its claim lapsed: the counter is a's since the takeover.
    const again = countedL3();
    const a3 = app('a', again.l3, { schemas: [schema] });
    await a3.set(schema, { id: 'k', username: 'k', level: 4 });
    expect(again.calls).toEqual({ claims: 0, epochs: 0 });
    await a2.close();
    await stack.lapseClaims();
    const a4 = app('a', again.l3, { schemas: [schema] });
    await a4.set(schema, { id: 'k', username: 'k', level: 5 });
    expect(again.calls).toEqual({ claims: 1, epochs: 0 });
    await a3.flushDirty();
    await a4.flushDirty();
    expect((await stored('k'))?.level).toBe(5);
    await Promise.all([a3.close(), a4.close()]);
  });

  it('over four buckets, the taker moves every bucket counter into a new epoch', async () => {
    const schema = behind();
    const bucketed = (name: string) =>
      app(name, stack.l3, { schemas: [schema], buckets: 4, bucketing: clusterBuckets });
    // At least 16 ids, as many more as it takes to touch all four buckets: which bucket an id lands
    // in depends on the run's random keyPrefix, and 16 fixed ids missed one in about 4 % of runs.
    const router = new KeyRouter(`${stack.keyPrefix}x`, schema, 'json', 4);
    const ids: string[] = [];
    for (
      let i = 0;
      i < 1_000 && (ids.length < 16 || new Set(ids.map((id) => router.bucket(id))).size < 4);
      i++
    )
      ids.push(`b${i}`);
    expect(new Set(ids.map((id) => router.bucket(id))).size).toBe(4);
    const rows = (level: number) => ids.map((id) => ({ id, username: `u-${id}`, level }));
    // x seeds its four counters first; y takes over later, in later epochs; then x takes it back.
    const x = bucketed('x');
    await x.setMany(schema, rows(1));
    await x.flushDirty();
    await x.close();
    await stack.lapseClaims();
    const y = bucketed('y');
    await y.setMany(schema, rows(2));
    await y.flushDirty();
    await y.close();
    await stack.lapseClaims();
    const x2 = bucketed('x');
    await x2.setMany(schema, rows(3));
    await x2.flushDirty();
    for (const id of ids) expect((await stored(id))?.level).toBe(3);
    await x2.close();
  });
});
