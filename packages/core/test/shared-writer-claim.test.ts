import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { manualClock } from '../src/driver.js';
import { createDrizzleL3 } from '../src/drizzle/index.js';
import { KeySpace } from '../src/engine/keys.js';
import { createMemoryQueue, defineSchema, isStrataError, Strata, type StrataConfig } from '../src/index.js';
import type { L3Tier } from '../src/l3/types.js';
import { warningLogger } from './support/logs.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { aroundL3, signal } from './support/wrap.js';

// The instances of one app share its writer claim through L2 (engine/shared-claims.ts): an instance
// with no claim of its own that finds one live there (a new Worker isolate next to a warm one) writes
// without Postgres until that claim's trust ends; another app never reads it; a Redis that lost it
// sends instances back to Postgres; it never outlives the trust of the Postgres claim that set it.

let stack: EngineStack;
const sessions = () => stack.tables.sessions;
const behind = () => defineSchema({ table: sessions(), writeMode: 'write-behind' });
/** One whole row (no column left out: its write-behind set reads nothing first). */
const row = (id: string, n: number) => ({ id, userId: `u${n}`, data: { n } });

beforeAll(async () => {
  stack = await engineStack('shared_claim');
  const { counters } = stack.tables;
  await new Strata({
    l3: stack.l3,
    schemas: [defineSchema({ table: sessions() }), defineSchema({ table: counters })],
  }).migrate();
});
afterAll(() => stack?.cleanup());
// Each test starts with the tables free, in Postgres and in L2.
beforeEach(() => stack.lapseClaims());

/** `base` with every call counted by method name (nothing else changed: the real tier answers). */
function counted(base: L3Tier) {
  const calls: Record<string, number> = {};
  const l3 = aroundL3(base, (name, call) => (...args: unknown[]) => {
    calls[name] = (calls[name] ?? 0) + 1;
    return call(...args);
  });
  /** The calls other than `identity` (asked once per instance, by its first generation read). */
  const writes = () => Object.fromEntries(Object.entries(calls).filter(([name]) => name !== 'identity'));
  return { l3, calls, writes };
}

function app(keyPrefix: string, l3: L3Tier, extra: Partial<StrataConfig> = {}): Strata {
  return new Strata({
    l2: stack.l2,
    l3,
    keyPrefix: `${stack.keyPrefix}${keyPrefix}`,
    schemas: [behind()],
    writeBehind: { queue: createMemoryQueue() },
    ...extra,
  });
}

/** The L2 key where app `keyPrefix` shares its claim of the sessions table. */
const writerKey = (keyPrefix: string) =>
  new KeySpace(`${stack.keyPrefix}${keyPrefix}`, behind(), 'json').writerKey;

async function storedN(id: string): Promise<number | undefined> {
  const { rows } = await stack.pool.query<{ data: { n: number } }>(
    `select data from "${stack.name}".sessions where id = $1`,
    [id],
  );
  return rows[0]?.data.n;
}

describe('one claim per app, shared by its instances', () => {
  it('a new instance writes write-behind without a claim in Postgres while another holds the claim; with Postgres unreachable it is refused; the first flushes', async () => {
    const schema = behind();
    const queue = createMemoryQueue();
    const first = app('share', stack.l3, { schemas: [schema], writeBehind: { queue } });
    await first.set(schema, row('s1', 1));
    await first.settled(); // its claim shared (off the write's path)
    expect(await stack.redis.pttl(writerKey('share'))).toBeGreaterThan(0);

    // Postgres reachable: the second instance's first write makes no claim and takes no epoch; it
    // reads Postgres' mark of the counter (one statement: a Redis restored from an older snapshot
    // brings the shared claim back too, see counter-marks.ts).
    const reachable = counted(stack.l3);
    const second = app('share', reachable.l3, { schemas: [schema], writeBehind: { queue } });
    await second.set(schema, row('s2', 2));
    expect(reachable.writes()).toEqual({ counterMarks: 1 });

    // Postgres unreachable: refused before anything is written (L3_UNAVAILABLE). It cannot say which
    // database it is, so it cannot check that the keyPrefix (the shared claim, the counter, the
    // queue) is its app's and not another database's on the same Redis: it uses no L2 until it
    // can. Before, acknowledged on the trust of the shared claim, as an instance of another app
    // would have been (reliability/test/regression-identity-cold-start.test.ts). Only its identity
    // was asked.
    const pool = new pg.Pool({ connectionString: 'postgres://user@127.0.0.1:1/none', max: 1 });
    pool.on('error', () => {});
    const down = counted(createDrizzleL3(drizzle(pool), { migrationsSchema: stack.name }));
    const isolate = app('share', down.l3, { schemas: [schema], writeBehind: { queue } });
    const refused = await isolate.set(schema, row('s3', 3)).catch((e: unknown) => e);
    expect(isStrataError(refused, 'L3_UNAVAILABLE'), String(refused)).toBe(true);
    expect(String(refused)).toMatch(/not checked/);
    expect(down.writes()).toEqual({});
    expect(down.calls.identity).toBe(1);
    expect(isolate.stats().dirtyCount).toBe(0);

    // The first instance flushes the queue they share: everything acknowledged lands.
    await first.flushDirty();
    expect([await storedN('s1'), await storedN('s2'), await storedN('s3')]).toEqual([1, 2, undefined]);
    await first.close();
    await Promise.allSettled([second.close(), isolate.close()]);
    await pool.end();
  });

  it('another app (another keyPrefix) is refused while the claim lives; counted each time, logged once; no claim of it is shared', async () => {
    const schema = behind();
    const owner = app('own', stack.l3, { schemas: [schema] });
    await owner.set(schema, row('o1', 1));
    await owner.settled();
    const { logger, warnings: warned } = warningLogger();
    const other = app('other', stack.l3, { schemas: [schema], logger });
    for (let i = 0; i < 3; i++) {
      const err = await other.set(schema, row('o1', 2)).catch((e: unknown) => e);
      expect(isStrataError(err, 'INVALID_CONFIG')).toBe(true);
    }
    await other.settled();
    expect(other.stats().errorsBy.claim).toBe(3);
    expect(warned.filter((m) => m.startsWith('writer claim'))).toHaveLength(1);
    expect(await stack.redis.exists(writerKey('other'))).toBe(0);
    expect(await storedN('o1')).toBeUndefined(); // the owner's write is still queued; the other wrote nothing
    await owner.flushDirty();
    expect(await storedN('o1')).toBe(1);
    await Promise.all([owner.close(), other.close()]);
  });

  it('an instance of the app in the other mode (a deploy switching writeMode) does not trust the claim, and says once that the modes are mixed', async () => {
    const schema = behind();
    const first = app('modes', stack.l3, { schemas: [schema] });
    await first.set(schema, row('m1', 1));
    await first.settled(); // its write-behind claim shared
    const { logger, warnings: warned } = warningLogger();
    const through = defineSchema({ table: sessions() });
    const reachable = counted(stack.l3);
    const next = app('modes', reachable.l3, { schemas: [through], logger });
    await next.set(through, row('m2', 2));
    await next.set(through, row('m3', 3));
    // Not trusted: it claimed in Postgres itself.
    expect(reachable.calls.claimWriter).toBeGreaterThanOrEqual(1);
    const said = warned.filter((m) => m.includes('prefer a handover'));
    expect(said).toHaveLength(1);
    expect(said[0]).toContain('write-behind, this one write-through: writes stay ordered');
    await first.close();
    await next.close();
    expect([await storedN('m1'), await storedN('m2'), await storedN('m3')]).toEqual([1, 2, 3]);
  });

  it('a shared claim Redis lost (a flush of its key) sends the next new instance back to Postgres', async () => {
    const schema = behind();
    const first = app('lost', stack.l3, { schemas: [schema] });
    await first.set(schema, row('l1', 1));
    await first.settled();
    expect(await stack.redis.del(writerKey('lost'))).toBe(1);
    const next = counted(stack.l3);
    const second = app('lost', next.l3, { schemas: [schema] });
    await second.set(schema, row('l2', 2));
    expect(next.calls.claimWriter).toBe(1);
    await second.settled();
    expect(await stack.redis.pttl(writerKey('lost'))).toBeGreaterThan(0); // shared again by its claim
    await Promise.all([first.close(), second.close()]);
  });

  it('expires when the trust of the claim that set it ends (counted from when it was sent); an instance trusting it claims itself from then', async () => {
    const schema = behind();
    const clock = manualClock();
    // The claim's answers take 5 s each (a slow Postgres): the trust counts from when it was sent.
    const slow = aroundL3(stack.l3, (name, call) =>
      name === 'claimWriter'
        ? async (...args: unknown[]) => {
            const held = await call(...args);
            clock.advance(5_000);
            return held;
          }
        : call,
    );
    const first = app('ttl', slow, { schemas: [schema], clock });
    const before = clock.now();
    await first.set(schema, row('t1', 1));
    await first.settled();
    const spent = clock.now() - before; // two claims (a table new to the app: the second says seeded)
    expect(spent).toBe(10_000);
    const ttl = await stack.redis.pttl(writerKey('ttl'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(50_000 - spent);

    // Another instance trusts it until it expires, by its own clock: not 50 s from its own first write.
    const ownClock = manualClock();
    const tier = counted(stack.l3);
    let failing = false;
    const flaky = aroundL3(tier.l3, (name, call) =>
      name === 'claimWriter'
        ? (...args: unknown[]) => (failing ? Promise.reject(new Error('connection lost')) : call(...args))
        : call,
    );
    const second = app('ttl', flaky, { schemas: [schema], clock: ownClock });
    await second.set(schema, row('t2', 2));
    expect(tier.writes()).toEqual({ counterMarks: 1 }); // no claim: the counter's mark only
    // From here on it is on its own (Redis' clock does not follow the manual one), and Postgres fails.
    await stack.redis.del(writerKey('ttl'));
    failing = true;
    ownClock.advance(ttl - 1_000);
    await second.set(schema, row('t2', 3)); // still trusted (a renewal is out, and fails: not waited for)
    ownClock.advance(2_000);
    const refused = await second.set(schema, row('t2', 4)).catch((e: unknown) => e);
    expect(isStrataError(refused, 'L3_UNAVAILABLE')).toBe(true);
    failing = false;
    await second.flushDirty();
    expect(await storedN('t2')).toBe(3);
    await Promise.allSettled([first.close(), second.close()]);
  });

  it("a transaction's first write of several schemas claims them together", async () => {
    const a = behind();
    const b = defineSchema({ table: stack.tables.counters, writeMode: 'write-behind' });
    const released = signal();
    let started = 0;
    const gated = aroundL3(stack.l3, (name, call) =>
      name === 'claimWriter'
        ? async (...args: unknown[]) => {
            started += 1;
            await released.promise;
            return call(...args);
          }
        : call,
    );
    const strata = app('tx', gated, { schemas: [a, b] });
    const committed = strata.tx().set(a, row('x1', 1)).set(b, { id: 1, n: 1 }).commit();
    // Both claims are out before either answers (one after the other, the second never would be).
    await vi.waitFor(() => expect(started).toBe(2), { timeout: 5_000 });
    released.resolve();
    await committed;
    expect(await storedN('x1')).toBe(1);
    await strata.close();
  });
});
