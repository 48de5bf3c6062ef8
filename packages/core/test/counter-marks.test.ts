import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { manualClock, type QueuedWrite } from '../src/driver.js';
import { KeySpace } from '../src/engine/keys.js';
import { createMemoryQueue, defineSchema, Strata, type StrataConfig } from '../src/index.js';
import { EPOCH_SPAN } from '../src/l3/epoch-span.js';
import type { L3Tier } from '../src/l3/types.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { wrapL3 } from './support/wrap.js';

// Postgres' marks of the write-behind counters (engine/counter-marks.ts, `_strata_counters`): a
// counter found below the greatest version Postgres marked it handed out went back with Redis (a
// restore from an older snapshot). Here the restore is the counter set back and the key's L2 row
// gone (as if the snapshot predates the key: no L2 row holds a version above the counter, so only
// Postgres can tell). What reseeds: an instance's first write, a claim in Postgres, a renewal, a
// flush refused over a version above the counter. What does not: a takeover by another app, a write
// superseded by a transaction, a redelivery.

let stack: EngineStack;
const players = () => stack.tables.players;
let schema: ReturnType<typeof defineSchema> | undefined;
/** One schema object for every instance (a schema is registered by object). */
const behind = () => {
  schema ??= defineSchema({ table: players(), writeMode: 'write-behind' });
  return schema;
};

beforeAll(async () => {
  stack = await engineStack('counter_marks');
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: players() })] }).migrate();
});
afterAll(() => stack?.cleanup());
beforeEach(() => stack.lapseClaims());

/** The stack's L3 counting the marks read. */
function countedL3() {
  const calls = { marksRead: 0 };
  const l3: L3Tier = wrapL3(stack.l3, {
    counterMarks: (schema, counters) => {
      calls.marksRead += 1;
      return stack.l3.counterMarks!(schema, counters);
    },
  });
  return { l3, calls };
}

function app(prefix: string, extra: Partial<StrataConfig> = {}): Strata {
  return new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: `${stack.keyPrefix}${prefix}`,
    writeBehind: { queue: createMemoryQueue() },
    schemas: [behind()],
    ...extra,
  });
}

const space = (prefix: string) => new KeySpace(`${stack.keyPrefix}${prefix}`, behind(), 'json');
const counterOf = async (prefix: string) => Number(await stack.redis.get(space(prefix).versionKey));
const resets = (s: Strata) => s.stats().errorsBy['l2-reset'] ?? 0;
const level = async (id: string) =>
  (await stack.pool.query<{ level: number }>(`select level from "${stack.name}".players where id = $1`, [id]))
    .rows[0]?.level;
const write = (s: Strata, id: string, lvl: number) => s.set(behind(), { id, username: id, level: lvl });

/**
 * `prefix`'s app writes `id` (flushed), then 5 more times (flushed); then its Redis "goes back" to
 * before those 5: the counter as it was, the row's L2 key gone (and with `claim`, the shared claim).
 */
async function goneBack(s: Strata, prefix: string, id: string, { claim = false } = {}): Promise<number> {
  await write(s, id, 1);
  await s.flushDirty();
  const before = await counterOf(prefix);
  for (let n = 2; n <= 6; n++) await write(s, id, n);
  await s.flushDirty();
  await stack.redis.set(space(prefix).versionKey, String(before));
  await stack.redis.del(space(prefix).row(id));
  if (claim) await stack.redis.del(space(prefix).writerKey);
  return before;
}

describe('a counter below the version Postgres marked it handed out moves into a new epoch', () => {
  it("at a new instance's first write under the shared claim", async () => {
    const a = app('first');
    const before = await goneBack(a, 'first', 'f1');
    await a.close();
    const b = app('first');
    await write(b, 'f1', 7);
    expect(resets(b)).toBe(1);
    expect(Math.floor((await counterOf('first')) / EPOCH_SPAN)).toBeGreaterThan(
      Math.floor(before / EPOCH_SPAN),
    );
    await b.flushDirty();
    expect(await level('f1')).toBe(7); // before: 6 (7's version was refused as older)
    await b.close();
  });

  it("at an instance's claim in Postgres (no shared claim)", async () => {
    const a = app('claim');
    await goneBack(a, 'claim', 'c1', { claim: true });
    await a.close();
    const b = app('claim');
    await write(b, 'c1', 7);
    expect(resets(b)).toBe(1);
    await b.flushDirty();
    expect(await level('c1')).toBe(7);
    await b.close();
  });

  it('at a renewal in Postgres of an instance that lived through it', async () => {
    const clock = manualClock();
    const a = app('renew', { clock });
    await goneBack(a, 'renew', 'r1', { claim: true });
    clock.advance(21_000);
    await write(a, 'other', 1); // renews (not waited for): the renewal checks the counter
    await a.settled();
    expect(resets(a)).toBe(1);
    await write(a, 'r1', 7);
    await a.flushDirty();
    expect(await level('r1')).toBe(7);
    await a.close();
  });

  it('at a flush refused over a version above the counter: the next write lands', async () => {
    const a = app('flush');
    await goneBack(a, 'flush', 'x1');
    await write(a, 'x1', 7); // acknowledged within the window (docs/semantics.md): refused at its flush
    await a.flushDirty();
    expect(resets(a)).toBe(1);
    await write(a, 'x1', 8);
    await a.flushDirty();
    expect(await level('x1')).toBe(8);
    await a.close();
  });
});

describe('what Postgres marks', () => {
  it("a seed, a flush's versions and a transaction's", async () => {
    const a = app('marks');
    const counter = space('marks').versionKey;
    const mark = async () =>
      (await stack.l3.counterMarks!(behind().identity, [counter]))[0]?.version ?? Number.NaN;
    await write(a, 'm1', 1); // the first write seeds the counter: its epoch is marked
    expect(await mark()).toBe(Math.floor((await counterOf('marks')) / EPOCH_SPAN) * EPOCH_SPAN);
    await a.flushDirty();
    expect(await mark()).toBe(await counterOf('marks'));
    await a.tx().set(behind(), { id: 'm2', username: 'm2', level: 1 }).commit();
    expect(await mark()).toBe(await counterOf('marks')); // not flushed: committed by the transaction
    await a.close();
  });
});

describe('what does not move a counter', () => {
  it("another app's takeover, and the first app taking the table back", async () => {
    const a = app('own');
    await write(a, 't1', 1);
    await a.flushDirty();
    await a.close();
    await stack.lapseClaims();
    const b = app('take');
    await write(b, 't1', 2);
    await b.flushDirty();
    await b.close();
    await stack.lapseClaims();
    const again = app('own');
    await write(again, 't1', 3);
    await again.flushDirty();
    expect(await level('t1')).toBe(3);
    expect([resets(b), resets(again)]).toEqual([0, 0]);
    await again.close();
  });

  it('a queued write a transaction superseded, and a redelivered write: checked, not moved', async () => {
    const tier = countedL3();
    const sent: QueuedWrite[] = [];
    const inner = createMemoryQueue();
    const queue = new Proxy(inner, {
      get(target, prop) {
        if (prop === 'enqueue')
          return (writes: readonly QueuedWrite[]) => {
            sent.push(...writes);
            return target.enqueue(writes);
          };
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const a = app('tx', { l3: tier.l3, writeBehind: { queue } });
    await write(a, 's1', 1);
    await a.tx().set(behind(), { id: 's1', username: 's1', level: 2 }).commit();
    const claimed = tier.calls.marksRead;
    await a.flushDirty(); // the queued level 1 is older than the transaction's: refused
    expect(await level('s1')).toBe(2);
    expect(tier.calls.marksRead).toBe(claimed + 1); // refused, so checked
    await write(a, 's2', 1);
    await a.flushDirty();
    await inner.enqueue(sent.filter((w) => w.id === 's2')); // delivered again
    await a.flushDirty();
    expect(tier.calls.marksRead).toBe(claimed + 2); // the redelivery was refused, and checked
    expect(resets(a)).toBe(0);
    expect([await level('s1'), await level('s2')]).toEqual([2, 1]);
    await a.close();
  });
});
