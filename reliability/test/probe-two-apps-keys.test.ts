import { uniqueName } from '@strata/devstack/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AofRedis, startAofRedis } from '../support/deployment-redis.js';
import { type Instance, rowOf, type TwoApps, twoApps } from '../support/twoapps-stack.js';

/** Every name of this run (schemas, keyPrefixes, channel) starts with it: concurrent runs never share one. */
const stem = uniqueName('twoapps');

// Two apps on one Redis (an AOF one of the test's own) and one bus channel, one's keyPrefix the
// prefix of the other's (`…p` / `…p2`, `…q` / `…q.b`), the same table names in two Postgres
// schemas. App B leaves write-behind writes queued (full and partial sets: defaults' names in its
// pending index, a delete), write-through rows and a transaction; then app A writes the same ids,
// partially, in transactions, invalidates all, flushes, and loses every key of its own (as a reset
// of A alone: its boot marker, tick, counters, generations, queue) and goes on working over it.
// Every key of every other app must be byte for byte what it was (DUMP), B's queue as deep, B's
// reads and flush its own; and no key of either app lies outside `{keyPrefix}:`.

const PAIRS = [
  { a: `${stem}_p`, b: `${stem}_p2` },
  { a: `${stem}_q`, b: `${stem}_q.b` },
] as const;

let redis: AofRedis;
let raw: Redis;

beforeAll(async () => {
  redis = await startAofRedis();
  raw = new Redis(redis.url);
});

afterAll(async () => {
  raw?.disconnect();
  await redis?.stop();
});

async function keysOf(match: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await raw.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    out.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return out.sort();
}

/** Every key not under `root:`, with its type and DUMP (its value byte for byte). */
async function othersThan(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const key of await keysOf('*')) {
    if (key.startsWith(`${root}:`)) continue;
    const dump = await raw.dumpBuffer(key);
    out.set(key, `${await raw.type(key)} ${dump?.toString('hex')}`);
  }
  return out;
}

const get = async (i: Instance, t: 'wb' | 'wt', id: string) =>
  rowOf((await i.strata.find(i.schemas[t], id)) as Record<string, unknown> | null);

describe.each(PAIRS)('app $a resets beside app $b on one Redis', (pair) => {
  let stack: TwoApps;
  const tag = pair.a.slice(-1);

  beforeAll(async () => {
    stack = await twoApps(
      redis,
      {
        keyPrefix: { a: pair.a, b: pair.b },
        pgSchema: { a: `${stem}_${tag}a`, b: `${stem}_${tag}b` },
        ops: `${stem}_${tag}ops`,
        channel: `${stem}_${tag}:bus`,
      },
      1,
    );
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
  });

  it("A's writes, invalidateAll, flush and a reset of A's keys leave B's keys, queue and rows as they were", async () => {
    const [A, B] = stack.instances as [Instance, Instance];
    // B: queued full and partial sets, a queued delete, a flushed row, write-through rows, a transaction.
    await B.strata.set(B.schemas.wb, { id: 'k0', n: 100, app: 'b', note: 'b0', tag: 'tb' });
    await B.strata.set(B.schemas.wb, { id: 'k9', n: 109, app: 'b' });
    await B.strata.flushDirty();
    await B.strata.set(B.schemas.wb, { id: 'k1', n: 101, app: 'b' });
    await B.strata.set(B.schemas.wb, { id: 'k0', n: 102, app: 'b' });
    await B.strata.delete(B.schemas.wb, 'k9');
    await B.strata.set(B.schemas.wt, { id: 'k0', n: 103, app: 'b', note: 'b3' });
    await B.strata.tx().set(B.schemas.wt, { id: 'k1', n: 104, app: 'b' }).commit();
    expect(await B.strata.queueDepth()).toBe(3);
    const before = await othersThan(pair.a);
    expect(before.size).toBeGreaterThan(5);

    // A: the same ids and table names.
    for (const t of ['wb', 'wt'] as const) {
      await A.strata.set(A.schemas[t], { id: 'k0', n: 1, app: 'a', note: 'a0' });
      await A.strata.set(A.schemas[t], { id: 'k1', n: 2, app: 'a' });
      await A.strata.tx().set(A.schemas[t], { id: 'k9', n: 3, app: 'a' }).delete(A.schemas[t], 'k1').commit();
      await A.strata.invalidateAll(A.schemas[t]);
      await A.strata.delete(A.schemas[t], 'k0');
    }
    await A.strata.flushDirty();
    // A reset of A alone: every key of A's gone (boot marker, tick, counters, generations, stream).
    const own = await keysOf(`${pair.a}:*`);
    expect(own).toContain(`${pair.a}:boot`);
    await raw.del(...own);
    for (const t of ['wb', 'wt'] as const) {
      await A.strata.set(A.schemas[t], { id: 'k1', n: 4, app: 'a' });
      expect(await get(A, t, 'k1')).toMatchObject({ n: 4, app: 'a' });
      await A.strata.invalidateAll(A.schemas[t]);
    }
    await A.strata.flushDirty();
    expect(await get(A, 'wb', 'k9')).toMatchObject({ n: 3, app: 'a' });

    const after = await othersThan(pair.a);
    expect([...after.keys()], 'the keys of every other app').toEqual([...before.keys()]);
    for (const [key, value] of before) expect(after.get(key), key).toBe(value);
    expect(await B.strata.queueDepth()).toBe(3);
    // Every key of both apps under its own `{keyPrefix}:`.
    const all = await keysOf(`${stem}_${tag}*`);
    for (const key of all)
      expect(key.startsWith(`${pair.a}:`) || key.startsWith(`${pair.b}:`), key).toBe(true);

    // B reads and flushes its own rows.
    expect(await get(B, 'wb', 'k0')).toMatchObject({ n: 102, app: 'b' });
    expect(await get(B, 'wb', 'k9')).toBeNull();
    await B.strata.flushDirty();
    const rows = await stack.pgRows('b', 'wb');
    expect([...rows.values()].map((r) => [r.id, r.n, r.app, r.note, r.tag]).sort()).toEqual([
      ['k0', 102, 'b', 'b0', 'tb'],
      ['k1', 101, 'b', null, 'dflt'],
    ]);
    expect((await stack.pgRows('b', 'wt')).get('k1')).toMatchObject({ n: 104, app: 'b', note: null });
  });
});
