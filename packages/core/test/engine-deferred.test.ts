/**
 * The `background` option (`'track'`, a host's waitUntil, `'await'`) and `strata.settled()` against the real tiers: deferred work (here an L2
 * fill after an L3 hit) no longer holds up the call that caused it, and `settled()` waits for it.
 * The L2 used by the instance under test lets a test hold its writes (the `put` script) at a gate, so "returned
 * before the fill landed" is observed, not inferred from timing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../src/driver.js';
import { defineSchema, isStrataError, Strata } from '../src/index.js';
import type { L2Tier } from '../src/l2/types.js';
import { warningLogger } from './support/logs.js';
import { type EngineStack, engineStack } from './support/stack.js';

let stack: EngineStack;
let players: ReturnType<typeof playerSchema>;
const instances: Strata[] = [];

beforeAll(async () => {
  stack = await engineStack('engine_deferred');
  players = playerSchema();
  await newStrata().migrate();
});
afterAll(async () => {
  for (const strata of instances) await strata.close();
  await stack?.cleanup();
});

const playerSchema = () =>
  defineSchema({ table: stack.tables.players, l1: { ttl: '60s' }, l2: { ttl: '5m' } });

function newStrata(extra: Partial<ConstructorParameters<typeof Strata>[0]> = {}): Strata {
  const strata = new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    schemas: [players],
    ...extra,
  });
  instances.push(strata);
  return strata;
}

/** The stack's L2, with its writes held until `open()` (and failing instead when `fail` is set). */
function gatedL2(fail = false) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  let started = 0;
  const inner = stack.l2;
  const l2: L2Tier = {
    name: 'gated',
    getMany: (keys) => inner.getMany(keys),
    run: async (script, keys, args) => {
      if (script.name === 'put') {
        started += 1;
        await gate;
        if (fail) throw new Error('L2 write refused (test)');
      }
      return inner.run(script, keys, args);
    },
    close: async () => {},
  };
  return { l2, open, started: () => started };
}

/** Puts a row in L3 only (an instance without L2), so the next read misses L2 and fills it. */
async function rowInL3Only(id: string): Promise<void> {
  await newStrata({ l2: undefined }).set(players, { id, username: `user-${id}` });
}

/** Whether `promise` settles within a few event-loop turns (no timer race on the result). */
async function settlesSoon(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  return done;
}

/** The raw Redis keys of a row's L2 entry. */
async function l2KeysOf(id: string): Promise<string[]> {
  return (await stack.rawL2Keys()).filter((key) => key.endsWith(`:${id}`));
}

/** A second instance (empty L1) reads `id`: from L2 if the fill landed, else from L3. */
async function readByAnother(id: string) {
  const other = newStrata();
  const row = await other.get(players, id);
  return { row, hitsL2: other.stats().hits.l2, l3Reads: other.stats().l3Reads };
}

describe("background: 'track'", () => {
  it('returns from a get that missed L2 before its fill lands; settled() waits for the fill', async () => {
    await rowInL3Only('bg-1');
    const gated = gatedL2();
    const strata = newStrata({ l2: gated.l2, background: 'track' });

    const row = await strata.get(players, 'bg-1'); // resolves while the fill is held at the gate
    expect(row).toMatchObject({ id: 'bg-1', username: 'user-bg-1' });
    expect(gated.started()).toBe(1);
    expect(await l2KeysOf('bg-1')).toEqual([]);

    const settled = strata.settled();
    expect(await settlesSoon(settled)).toBe(false);
    gated.open();
    await settled;

    expect(await l2KeysOf('bg-1')).toHaveLength(1);
    expect(await readByAnother('bg-1')).toMatchObject({ row: { id: 'bg-1' }, hitsL2: 1, l3Reads: 0 });
  });

  it('settled() with nothing in flight resolves at once, not waiting for work deferred after it', async () => {
    const strata = newStrata({ background: 'track' });
    await strata.settled(); // nothing in flight
    await rowInL3Only('bg-2');
    const settledEarly = strata.settled();
    await strata.get(players, 'bg-2');
    await settledEarly; // does not wait for the later fill (nor hang on it)
    await strata.settled();
    expect(await readByAnother('bg-2')).toMatchObject({ hitsL2: 1, l3Reads: 0 });
  });

  // A Worker hands settled() to waitUntil once, at the end of the request; what the request's work
  // defers in turn (here a stale read's refresh, whose L2 fill comes after its Postgres read) must
  // be inside it, or the isolate may stop it: L2 keeps the stale row for every other isolate.
  it('settled() also waits for what its work defers in turn (a stale refresh: its L2 fill)', async () => {
    const clock = manualClock();
    const aging = defineSchema({
      table: stack.tables.players,
      l1: { ttl: '10s' },
      l2: { ttl: '10s' },
      stale: '1m',
    });
    let held: Promise<void> | undefined;
    let open = () => {};
    let atGate = 0;
    const l2: L2Tier = {
      name: 'gated',
      getMany: (keys) => stack.l2.getMany(keys),
      run: async (script, keys, args) => {
        if (script.name === 'put' && held) {
          atGate += 1;
          await held;
        }
        return stack.l2.run(script, keys, args);
      },
      close: async () => {},
    };
    const strata = newStrata({
      l2,
      clock,
      schemas: [aging],
      keyPrefix: `${stack.keyPrefix}c`,
      background: 'track',
    });
    await strata.set(aging, { id: 'ch-1', username: 'before' });
    await newStrata({ l2: undefined, schemas: [aging] }).set(aging, { id: 'ch-1', username: 'after' });
    clock.advance(11_000);
    held = new Promise<void>((resolve) => {
      open = resolve;
    });
    expect(await strata.get(aging, 'ch-1')).toMatchObject({ username: 'before' }); // stale, refreshing
    const settled = strata.settled();
    const early = await settlesSoon(settled);
    expect(atGate).toBe(1); // the refresh's L2 fill, held
    expect(early).toBe(false);
    open();
    await settled;
    expect(strata.stats()).toMatchObject({ refreshes: 1, l3Reads: 1 });
  });

  it('counts and logs a failed background fill; settled() still resolves', async () => {
    await rowInL3Only('bg-3');
    const gated = gatedL2(true);
    const { logger, warnings } = warningLogger();
    const strata = newStrata({ l2: gated.l2, background: 'track', logger });

    expect(await strata.get(players, 'bg-3')).toMatchObject({ id: 'bg-3' });
    gated.open();
    await strata.settled();
    expect(strata.stats().errorsBy.l2).toBe(1);
    expect(warnings).toEqual(['l2 fill failed; continuing without it']);
    expect(await readByAnother('bg-3')).toMatchObject({ hitsL2: 0, l3Reads: 1 });
  });

  it('close() waits for background work before releasing the tiers', async () => {
    await rowInL3Only('bg-4');
    const gated = gatedL2();
    const strata = newStrata({ l2: gated.l2, background: 'track' });
    await strata.get(players, 'bg-4');
    const closed = strata.close();
    expect(await settlesSoon(closed)).toBe(false);
    gated.open();
    await closed;
    expect(await readByAnother('bg-4')).toMatchObject({ hitsL2: 1, l3Reads: 0 });
  });
});

describe("background: the host's waitUntil", () => {
  it('hands the fill to the function and returns before it lands; settled() waits for it too', async () => {
    await rowInL3Only('fn-1');
    const gated = gatedL2();
    const handed: Promise<unknown>[] = [];
    const strata = newStrata({ l2: gated.l2, background: (work) => void handed.push(work) });

    expect(await strata.get(players, 'fn-1')).toMatchObject({ id: 'fn-1' });
    expect(handed).toHaveLength(1);
    expect(await l2KeysOf('fn-1')).toEqual([]);
    const settled = strata.settled();
    expect(await settlesSoon(settled)).toBe(false);
    gated.open();
    await Promise.all([settled, ...handed]);
    expect(await readByAnother('fn-1')).toMatchObject({ hitsL2: 1, l3Reads: 0 });
  });
});

describe("background: 'await' (the default)", () => {
  it('holds the get until its fill has landed', async () => {
    await rowInL3Only('aw-1');
    const gated = gatedL2();
    const strata = newStrata({ l2: gated.l2 });
    const get = strata.get(players, 'aw-1');
    expect(await settlesSoon(get)).toBe(false);
    expect(gated.started()).toBe(1);
    gated.open();
    await get;
    expect(await readByAnother('aw-1')).toMatchObject({ hitsL2: 1, l3Reads: 0 });
    await strata.settled(); // nothing was left in flight
  });

  it('refuses an unknown mode with INVALID_CONFIG naming the field', () => {
    let caught: unknown;
    try {
      new Strata({ background: 'later' as 'await' });
    } catch (err) {
      caught = err;
    }
    expect(isStrataError(caught, 'INVALID_CONFIG')).toBe(true);
    expect((caught as Error).message).toContain('config.background');
  });
});
