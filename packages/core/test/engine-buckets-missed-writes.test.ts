import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { applyChanges } from '../src/admin.js';
import type { ChangeSource } from '../src/capture/types.js';
import {
  type CapturedChange,
  changeRelay,
  createMemoryQueue,
  defineSchema,
  Strata,
  type StrataConfig,
} from '../src/index.js';
import { decodeEnvelope } from '../src/l2/envelope.js';
import type { L2Tier } from '../src/l2/types.js';
import type { Logger } from '../src/observability/logger.js';
import { fourBuckets, fourRouter, idsOverBuckets } from './support/buckets.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { wrapL2Run } from './support/wrap.js';

/**
 * A version of changes made outside Strata above every write of these tests: a write ordered by
 * Postgres goes no lower than its table's latest epoch (2^36 per epoch), which earlier writes started.
 */
const ABOVE_EVERY_WRITE = 2 ** 52;

// A write L2 misses in one bucket of four (config.buckets; one real Redis serves the buckets as a
// Cluster would: buckets are key names) moves that bucket's generation alone: its rows are read
// from Postgres again, the other buckets' rows (which took the write, or were not in it) are still
// served from L2, and the miss counts one L2 error for the call, however many buckets missed it.
// The failure is injected around the real L2 (`faulty`): calls of the named scripts whose keys are
// in a down bucket's hash tag are refused, as a shard that does not answer would refuse them.

let stack: EngineStack;

beforeAll(async () => {
  stack = await engineStack('engine_bkt_miss');
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
});
// Each test is another app (keyPrefix) on the table: the earlier ones' writer claims lapse first.
afterEach(() => stack.lapseClaims());
afterAll(async () => {
  await stack?.cleanup(); // bucketed keys (`{name…#b}`) too
});

// No L1: every read asks L2, so what L2 answers (and what it does not) is what the counters show.
const schema = () => defineSchema({ table: stack.tables.players, l1: false });
type Schema = ReturnType<typeof schema>;

/** What the injector refuses: scripts by name, in the buckets of `down`. */
interface Fault {
  scripts: ReadonlySet<string>;
  down: ReadonlySet<number>;
}

/**
 * The stack's real L2, whose `run` of `fault.scripts` in a bucket of `fault.down` (of app `p`)
 * rejects; `sent` gets `script@bucket` of each call. Never closed by an instance.
 */
function faulty(p: string, fault: { current?: Fault }, sent: string[] = []): L2Tier {
  return wrapL2Run(stack.l2, (script, keys, run) => {
    // This app's bucket of the call (its keys all in one bucket's hash tag `{p#b}`).
    const b = keys[0]?.startsWith(`{${p}#`) ? /#(\d+)\}:/.exec(keys[0])?.[1] : undefined;
    sent.push(`${script.name}@${b}`);
    const f = fault.current;
    if (f && b !== undefined && f.scripts.has(script.name) && f.down.has(Number(b)))
      return Promise.reject(new Error(`bucket ${b}: shard down`));
    return run();
  });
}

const four = (keyPrefix: string, s: Schema, extra: Partial<StrataConfig> = {}) =>
  fourBuckets(stack, keyPrefix, s, extra);

/** Each bucket's generation as Redis holds it. */
function generations(p: string, s: Schema): Promise<number[]> {
  return Promise.all(
    [0, 1, 2, 3].map(async (b) => Number(await stack.redis.get(`{${p}#${b}}:${s.identity}:gen`))),
  );
}

/** A logger that keeps its warnings. */
function warnings(): Logger & { warned: { message: string; fields?: Record<string, unknown> }[] } {
  const warned: { message: string; fields?: Record<string, unknown> }[] = [];
  return {
    warned,
    debug() {},
    info() {},
    warn: (message, fields) => void warned.push({ message, fields }),
    error() {},
  };
}

/** Reads `ids` through `strata` (no L1): what it answered, and how many of them L2 did not answer. */
async function readAll(strata: Strata, s: Schema, ids: readonly string[]) {
  const misses = strata.stats().misses.l2;
  const rows = await strata.getMany(s, ids);
  return { rows, l2Misses: strata.stats().misses.l2 - misses };
}

describe('config.buckets: 4, a write L2 misses in one bucket', () => {
  const writes = {
    setMany: (a: Strata, s: Schema, p: string, ids: string[]) =>
      a.setMany(
        s,
        ids.map((id) => ({ id, username: `${p}-${id}-2`, level: 2 })),
      ),
    deleteMany: (a: Strata, s: Schema, _: string, ids: string[]) => a.deleteMany(s, ids),
    tx: (a: Strata, s: Schema, p: string, ids: string[]) => {
      const tx = a.tx();
      for (const id of ids) tx.set(s, { id, username: `${p}-${id}-2`, level: 2 });
      return tx.commit();
    },
  };

  const cases = (Object.keys(writes) as (keyof typeof writes)[]).flatMap((op) =>
    (['once', 'lasting'] as const).map((fails) => [op, fails] as const),
  );

  // `once`: L2 answers again at the writer's next use of bucket 2, which first sends the missed
  // write again, late, as superseded markers at its versions (never its rows: a newer copy may have
  // come and gone meanwhile): nothing moves, bucket 2's written keys are read from Postgres once,
  // every other row is an L2 hit. `lasting`: bucket 2 still refuses then (PUT and MARK), so its
  // generation moves on (hard) and its rows are read from Postgres; the other buckets stay.
  it.each(cases)(
    '%s over every bucket, PUT refused in bucket 2 (%s): one L2 error for the call; no row older than the write',
    async (op, fails) => {
      const p = `${stack.keyPrefix}${op}${fails}`;
      const s = schema();
      const fault: { current?: Fault } = {};
      const a = four(p, s, { l2: faulty(p, fault) });
      const router = fourRouter(p, s);
      const ids = idsOverBuckets(router, `${op}-`, 32, 3);
      const inTwo = ids.filter((id) => router.bucket(id) === 2);
      await a.setMany(
        s,
        ids.map((id) => ({ id, username: `${p}-${id}`, level: 1 })),
      );
      const errors = a.stats().errorsBy.l2 ?? 0;
      const before = await generations(p, s);

      fault.current = { scripts: new Set(['put', 'mark']), down: new Set([2]) };
      await writes[op](a, s, p, ids);
      if (fails === 'once') fault.current = undefined;
      // Postgres took the write; L2 missed it in bucket 2 alone: one error for the call.
      expect(a.stats().errorsBy.l2 ?? 0).toBe(errors + 1);
      const expected = ids.map((id) => (op === 'deleteMany' ? null : { username: `${p}-${id}-2`, level: 2 }));
      const shape = (rows: readonly ({ username: string; level: number } | null)[]) =>
        rows.map((row) => row && { username: row.username, level: row.level });

      stack.reset();
      const writer = await readAll(a, s, ids);
      fault.current = undefined;
      expect(shape(writer.rows as never)).toStrictEqual(expected);
      const after = await generations(p, s);
      const moved = after.map((g, b) => g > before[b]!);
      if (fails === 'once') {
        // Sent again before the read: bucket 2 holds the write's markers, nothing was orphaned;
        // its keys are read from Postgres (one statement), every other row is an L2 hit.
        expect(moved).toStrictEqual([false, false, false, false]);
        expect(writer.l2Misses).toBe(inTwo.length);
        expect(stack.statementsOn('players')).toHaveLength(1);
        expect(a.stats().errorsBy.l2 ?? 0).toBe(errors + 1);
      } else {
        // Sent again and refused again (counted): bucket 2's generation moves on first, its rows
        // (copies older than the write, orphaned) from Postgres; every other row is an L2 hit.
        expect(moved).toStrictEqual([false, false, true, false]);
        expect(writer.l2Misses).toBe(inTwo.length);
        expect(stack.statementsOn('players').length).toBeGreaterThan(0);
        expect(a.stats().errorsBy.l2 ?? 0).toBeGreaterThanOrEqual(errors + 2);
      }

      // Another instance: the same, and no row older than the write.
      const b = four(p, s);
      const other = await readAll(b, s, ids);
      expect(shape(other.rows as never)).toStrictEqual(expected);
      // A delete's keys are absent in Postgres: nothing fills them (no negativeTtl), so read there again.
      expect(other.l2Misses).toBeLessThanOrEqual(fails === 'once' && op !== 'deleteMany' ? 0 : inTwo.length);
      expect(b.stats().errors).toBe(0);
      await Promise.all([a.close(), b.close()]);
    },
  );

  it('invalidate: DROP refused in its bucket moves that generation alone', async () => {
    const p = `${stack.keyPrefix}inv`;
    const s = schema();
    const fault: { current?: Fault } = {};
    const a = four(p, s, { l2: faulty(p, fault) });
    const router = fourRouter(p, s);
    const ids = idsOverBuckets(router, 'inv-', 24, 2);
    await a.setMany(
      s,
      ids.map((id) => ({ id, username: `${p}-${id}`, level: 1 })),
    );
    const target = ids.find((id) => router.bucket(id) === 1)!;
    const errors = a.stats().errorsBy.l2 ?? 0;
    const before = await generations(p, s);
    fault.current = { scripts: new Set(['drop']), down: new Set([1]) };
    await a.invalidate(s, target);
    fault.current = undefined;
    expect(a.stats().errorsBy.l2 ?? 0).toBe(errors + 1);
    const { rows, l2Misses } = await readAll(a, s, ids);
    expect(rows.map((row) => row?.id)).toStrictEqual(ids);
    expect(l2Misses).toBe(ids.filter((id) => router.bucket(id) === 1).length);
    const after = await generations(p, s);
    expect(after.map((g, b) => g > before[b]!)).toStrictEqual([false, true, false, false]);
    await a.close();
  });
});

describe('config.buckets: 4, a flush L2 misses in one bucket', () => {
  // `once`: the flush's settle is sent again at a's next use of bucket 2, with superseded markers at
  // its versions (late: never its rows): no generation moves, b's pending rows stay L2 hits in every
  // bucket, and a's flushed keys of bucket 2 are read from Postgres once. `lasting`: bucket 2 moves on (hard), which
  // orphans b's pending rows there: L2 misses, answered all the same, each newer than what Postgres
  // holds (orphaned-pending.ts; before, read as absent until b flushed them); the other buckets' stay L2 hits.
  it.each(['once', 'lasting'] as const)(
    "write-behind: the flush's PUT refused in bucket 2 (%s); another instance's pending rows stay L2 hits",
    async (fails) => {
      const p = `${stack.keyPrefix}wb${fails}`;
      const s = schema();
      const fault: { current?: Fault } = {};
      // Each instance its own queue: a's flush leaves b's writes pending.
      const mode = { defaultWriteMode: 'write-behind' as const };
      const a = four(p, s, { ...mode, l2: faulty(p, fault), writeBehind: { queue: createMemoryQueue() } });
      const b = four(p, s, { ...mode, writeBehind: { queue: createMemoryQueue() } });
      const router = fourRouter(p, s);
      const mine = idsOverBuckets(router, `wa-${fails}-`, 16, 2);
      const theirs = idsOverBuckets(router, `wb-${fails}-`, 16, 2);
      const row = (id: string) => ({ id, username: `${p}-${id}`, level: 4 });
      await a.setMany(s, mine.map(row));
      await b.setMany(s, theirs.map(row));
      const errors = a.stats().errorsBy.l2 ?? 0;
      const before = await generations(p, s);

      fault.current = { scripts: new Set(['put', 'mark']), down: new Set([2]) };
      await a.flushDirty();
      if (fails === 'once') fault.current = undefined;
      expect(a.stats().errorsBy.l2 ?? 0).toBe(errors + 1);
      const stored = await stack.db.select().from(stack.tables.players);
      expect(
        stored
          .filter((r) => mine.includes(r.id))
          .map((r) => r.username)
          .sort(),
      ).toStrictEqual(mine.map((id) => `${p}-${id}`).sort());
      // b's pending rows are read from L2 by a: Postgres does not have them yet (a hard move of
      // their bucket orphans them: misses, still answered as newer than Postgres's none).
      const hidden = fails === 'once' ? [] : theirs.filter((id) => router.bucket(id) === 2);
      const read = await readAll(a, s, theirs);
      fault.current = undefined;
      expect(read.l2Misses).toBe(hidden.length);
      expect(read.rows.map((r) => r?.username)).toStrictEqual(theirs.map((id) => `${p}-${id}`));
      const mineRead = await readAll(a, s, mine);
      expect(mineRead.rows.map((r) => r?.username)).toStrictEqual(mine.map((id) => `${p}-${id}`));
      expect(mineRead.l2Misses).toBe(mine.filter((id) => router.bucket(id) === 2).length);
      const after = await generations(p, s);
      expect(after.map((g, k) => g > before[k]!)).toStrictEqual([false, false, fails === 'lasting', false]);
      // The flushed rows are settled in L2: out of the pending index of every bucket.
      if (fails === 'once')
        for (let k = 0; k < 4; k++) {
          const index = `{${p}#${k}}:${s.identity}:${s.fingerprint}-json:pending`;
          const fields = await stack.redis.hkeys(index);
          expect(fields.filter((f) => mine.some((id) => f.endsWith(`:r:${id}`)))).toStrictEqual([]);
        }
      await b.flushDirty();
      await Promise.all([a.close(), b.close()]);
    },
  );
});

describe('config.buckets: 4, markers L2 misses in some buckets', () => {
  it('a relay pass whose MARK fails in buckets 1 and 2: one L2 error logged once naming them; only their generations move; bucket 0 and 3 rows stay L2 hits', async () => {
    const p = `${stack.keyPrefix}relay`;
    const s = schema();
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
    const fault: { current?: Fault } = {};
    const logger = warnings();
    const a = four(p, s, {
      l2: faulty(p, fault),
      logger,
      capture: { source, relay: changeRelay({ interval: '1h' }) },
    });
    expect(await a.relayChanges()).toEqual({ status: 'applied', changes: 0, gap: true });
    const router = fourRouter(p, s);
    const ids = idsOverBuckets(router, 'rl-', 40, 6);
    await a.setMany(
      s,
      ids.map((id) => ({ id, username: `${p}-${id}`, level: 1 })),
    );
    // Three changed rows in each of buckets 1, 2 and 3; bucket 0 unchanged.
    const changed = [1, 2, 3].flatMap((k) => ids.filter((id) => router.bucket(id) === k).slice(0, 3));
    log.push({
      schema: s.identity,
      ids: changed,
      versions: changed.map(() => ABOVE_EVERY_WRITE),
      op: 'update',
    });
    const before = await generations(p, s);
    const { errorsBy } = a.stats();
    logger.warned.length = 0;

    fault.current = { scripts: new Set(['mark']), down: new Set([1, 2]) };
    const failed = await a.relayChanges();
    fault.current = undefined;
    expect(failed?.status).toBe('failed');
    // One L2 error for the pass (not one per bucket), and the pass's own failure.
    expect(a.stats().errorsBy.l2 ?? 0).toBe((errorsBy.l2 ?? 0) + 1);
    expect(a.stats().errorsBy.capture ?? 0).toBe((errorsBy.capture ?? 0) + 1);
    const error = failed?.status === 'failed' ? (failed.error as Error) : undefined;
    expect(error?.message).toContain(`${s.name} (bucket 1, 2)`);
    const l2Warnings = logger.warned.filter((w) => w.message.startsWith('l2 '));
    expect(l2Warnings).toHaveLength(1);
    expect(l2Warnings[0]).toMatchObject({
      message: 'l2 mark failed; continuing without it',
      fields: { schema: s.name, buckets: { [s.name]: [1, 2] } },
    });
    // Bucket 3 took its markers (not stopped by the others' failure).
    for (const id of changed) {
      const value = await stack.redis.get(router.of(id).row(id));
      expect(decodeEnvelope(value ?? '')?.kind === 'x', id).toBe(router.bucket(id) === 3);
    }

    // Buckets 1 and 2 move on at their next use; rows of bucket 0, and bucket 3's unchanged ones,
    // are still L2 hits.
    const { rows, l2Misses } = await readAll(a, s, ids);
    expect(rows.map((row) => row?.id)).toStrictEqual(ids);
    const after = await generations(p, s);
    expect(after.map((g, b) => g > before[b]!)).toStrictEqual([false, true, true, false]);
    const fromPostgres = ids.filter(
      (id) => router.bucket(id) !== 0 && (router.bucket(id) !== 3 || changed.includes(id)),
    );
    expect(l2Misses).toBe(fromPostgres.length);

    // Back: the next pass applies the page in every bucket, with no error.
    const errors = a.stats().errors;
    expect(await a.relayChanges()).toEqual({ status: 'applied', changes: 1, gap: false });
    expect(a.stats().errors).toBe(errors);
    await a.close();
  });

  it('applyChanges of 4,800 keys, MARK refused in bucket 0: the other buckets get every round; one L2 error, the call resolves', async () => {
    const p = `${stack.keyPrefix}big`;
    const s = schema();
    const fault: { current?: Fault } = {};
    const sent: string[] = [];
    const a = four(p, s, { l2: faulty(p, fault, sent) });
    const router = fourRouter(p, s);
    const ids = Array.from({ length: 4_800 }, (_, i) => `m${i}`);
    const per = [0, 1, 2, 3].map((b) => ids.filter((id) => router.bucket(id) === b).length);
    expect(Math.min(...per)).toBeGreaterThan(1_000); // two rounds in every bucket
    const errors = a.stats().errorsBy.l2 ?? 0;
    fault.current = { scripts: new Set(['mark']), down: new Set([0]) };
    await applyChanges(a, [{ schema: s.identity, ids, versions: ids.map(() => 9), op: 'update' }]);
    fault.current = undefined;
    expect(a.stats().errorsBy.l2 ?? 0).toBe(errors + 1);
    // Round one: a MARK per bucket (bucket 0's refused); round two: buckets 1-3 only.
    const marks = sent.filter((c) => c.startsWith('mark@')).sort();
    expect(marks).toStrictEqual(['mark@0', 'mark@1', 'mark@1', 'mark@2', 'mark@2', 'mark@3', 'mark@3']);
    const others = ids.filter((id) => router.bucket(id) !== 0);
    const values = await stack.redis.mget(...others.map((id) => router.of(id).row(id)));
    expect(values.filter((v) => decodeEnvelope(v ?? '')?.kind !== 'x')).toStrictEqual([]);
    await a.close();
  });
});
