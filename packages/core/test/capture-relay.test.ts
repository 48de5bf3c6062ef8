import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { relayKeys } from '../src/capture/relay-keys.js';
import type { ChangePage, ChangeSource } from '../src/driver.js';
import {
  type CapturedChange,
  changeRelay,
  defineSchema,
  isStrataError,
  Strata,
  type StrataConfig,
} from '../src/index.js';
import { externalUpdate } from './support/external-update.js';
import { warningLogger } from './support/logs.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { wrapL2Run } from './support/wrap.js';

/**
 * The change log as an array: the cursor is the index of the next entry; entries below `pruned`
 * are gone (a read from before them is a gap). Our own seam, standing in for the Postgres source.
 */
class ArraySource implements ChangeSource {
  readonly name = 'array';
  readonly log: CapturedChange[] = [];
  pruned = 0;
  reads = 0;
  failNext: Error | undefined;
  readonly prunes: number[] = [];

  async prune(olderThanMs: number): Promise<void> {
    this.prunes.push(olderThanMs);
  }

  async start(): Promise<string> {
    return String(this.log.length);
  }

  async read(cursor: string): Promise<ChangePage> {
    this.reads += 1;
    if (this.failNext) {
      const err = this.failNext;
      this.failNext = undefined;
      throw err;
    }
    const from = Number(cursor);
    const start = Math.max(from, this.pruned);
    return { changes: this.log.slice(start), cursor: String(this.log.length), gap: from < this.pruned };
  }
}

let stack: EngineStack;
let players: ReturnType<typeof defineSchema>;
let root = 0;

beforeAll(async () => {
  stack = await engineStack('capture_relay');
  players = defineSchema({ table: stack.tables.players });
  await new Strata({ l3: stack.l3, schemas: [players] }).migrate();
});
afterAll(() => stack?.cleanup());

/** A fresh app (its own key root, under the stack's name) with its relay over `source`. */
function app(source: ChangeSource) {
  const keyPrefix = `${stack.keyPrefix}r${root++}`;
  const make = (extra: Partial<StrataConfig> = {}) =>
    new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix,
      schemas: [players],
      capture: { source, relay: changeRelay({ interval: '1h' }) },
      ...extra,
    });
  return { keyPrefix, make, keys: relayKeys(keyPrefix) };
}

const change = (id: string, version: number): CapturedChange => ({
  schema: players.identity,
  ids: [id],
  versions: [version],
  op: 'update',
});

describe('the change relay', () => {
  it('with no cursor stored: starts the log at now and drops every cached row (what changed before is unknown)', async () => {
    const source = new ArraySource();
    source.log.push(change('old', 1)); // before the relay started: never read
    const { make, keys } = app(source);
    // Cached by an instance without the relay (a call would start one in the background).
    const plain = make({ capture: {} });
    await plain.set(players, { id: 'gap1', username: 'gap1', level: 1 });
    const a = make();
    const outcome = await a.relayChanges();
    expect(outcome).toEqual({ status: 'applied', changes: 0, gap: true });
    expect(a.stats().capture.relay).toMatchObject({ gaps: 1, changes: 0, errors: 0 });
    expect(await stack.redis.get(keys.cursor)).toBe('1');
    expect(await stack.redis.exists(keys.lease)).toBe(0);
    // The generation moved on: the row comes from Postgres.
    const l3 = a.stats().hits.l3;
    await a.get(players, 'gap1');
    expect(a.stats().hits.l3).toBe(l3 + 1);
    await a.close();
    await plain.close();
  });

  it('two instances polling at once: each change is applied by one of them, and the cursor advances', async () => {
    const source = new ArraySource();
    const { make, keys } = app(source);
    const a = make({ instanceId: 'relay-a' });
    const b = make({ instanceId: 'relay-b' });
    await a.relayChanges(); // the first read (a gap): the cursor is stored
    for (let round = 1; round <= 5; round++) {
      source.log.push(change(`k${round}`, round), change(`j${round}`, round));
      const outcomes = await Promise.all([a.relayChanges(), b.relayChanges()]);
      const statuses = outcomes.map((o) => o?.status).sort();
      expect(statuses).toEqual(['applied', 'busy']);
      const applied = outcomes.find((o) => o?.status === 'applied');
      expect(applied).toMatchObject({ changes: 2, gap: false });
      expect(await stack.redis.get(keys.cursor)).toBe(String(source.log.length));
    }
    const total = a.stats().capture.changesApplied + b.stats().capture.changesApplied;
    expect(total).toBe(10);
    // Nothing new: a read applies nothing.
    expect(await b.relayChanges()).toEqual({ status: 'applied', changes: 0, gap: false });
    await a.close();
    await b.close();
  });

  it('a restarted instance continues from the stored cursor', async () => {
    const source = new ArraySource();
    const { make } = app(source);
    const first = make();
    await first.relayChanges();
    source.log.push(change('r1', 1), change('r2', 1));
    expect(await first.relayChanges()).toMatchObject({ changes: 2 });
    await first.close();
    source.log.push(change('r3', 1));
    const again = make();
    expect(await again.relayChanges()).toEqual({ status: 'applied', changes: 1, gap: false });
    expect(again.stats().capture).toMatchObject({ changesApplied: 1, idsInvalidated: 1 });
    expect(again.stats().capture.relay?.gaps).toBe(0);
    await again.close();
  });

  it('a log pruned past the cursor is a gap: every cached row is dropped, counted', async () => {
    const source = new ArraySource();
    const { make } = app(source);
    const a = make();
    await a.relayChanges();
    await a.set(players, { id: 'pr1', username: 'pr1', level: 1 });
    source.log.push(change('lost', 1), change('kept', 2));
    source.pruned = 1;
    expect(await a.relayChanges()).toEqual({ status: 'applied', changes: 1, gap: true });
    expect(a.stats().capture.relay?.gaps).toBe(2);
    const l3 = a.stats().hits.l3;
    await a.get(players, 'pr1');
    expect(a.stats().hits.l3).toBe(l3 + 1);
    await a.close();
  });

  it('a failing source is counted and logged, never thrown; the lease is released and the next poll reads again', async () => {
    const source = new ArraySource();
    const { make, keys } = app(source);
    const { logger, warnings } = warningLogger();
    const a = make({ logger });
    await a.relayChanges();
    source.log.push(change('f1', 1));
    source.failNext = new Error('Postgres is away');
    const outcome = await a.relayChanges();
    expect(outcome?.status).toBe('failed');
    expect(a.stats().capture.relay).toMatchObject({ errors: 1 });
    expect(a.stats().errorsBy.capture).toBe(1);
    expect(warnings.some((w) => w.includes('change relay'))).toBe(true);
    expect(await stack.redis.exists(keys.lease)).toBe(0);
    expect(await stack.redis.get(keys.cursor)).toBe('0');
    expect(await a.relayChanges()).toEqual({ status: 'applied', changes: 1, gap: false });
    await a.close();
  });

  it('a malformed page does not hold back later changes: every cached row goes, the cursor moves past it', async () => {
    const source = new ArraySource();
    const { make } = app(source);
    const a = make();
    await a.relayChanges();
    await a.set(players, { id: 'bad1', username: 'bad1', level: 1 });
    expect(a.peek(players, 'bad1')?.level).toBe(1);
    const before = a.stats().capture.relay!;
    source.log.push({ schema: players.identity, ids: ['bad1'], versions: [1, 2], op: 'update' });
    expect(await a.relayChanges()).toMatchObject({ status: 'applied' });
    expect(a.peek(players, 'bad1')).toBeUndefined();
    expect(a.stats().capture.relay).toMatchObject({ gaps: before.gaps + 1, errors: before.errors + 1 });
    await a.get(players, 'bad1');
    source.log.push(change('bad1', 1_000_000));
    expect(await a.relayChanges()).toMatchObject({ status: 'applied', changes: 1 });
    expect(a.peek(players, 'bad1')).toBeUndefined();
    await a.close();
  });

  it('a lease held by an instance that died expires: another one reads after it', async () => {
    const source = new ArraySource();
    const { make, keys } = app(source);
    const a = make();
    await a.relayChanges();
    await stack.redis.set(keys.lease, 'a-dead-instance', 'PX', 200);
    source.log.push(change('d1', 1));
    expect(await a.relayChanges()).toEqual({ status: 'busy' });
    await vi.waitFor(
      async () => expect(await a.relayChanges()).toMatchObject({ status: 'applied', changes: 1 }),
      {
        timeout: 3_000,
        interval: 50,
      },
    );
    await a.close();
  });

  it('a take whose reply was lost (it ran, the call failed) is released: the next poll reads at once, not after the lease', async () => {
    const source = new ArraySource();
    const { make, keys } = app(source);
    // The real L2, but a lease take's reply is lost after Redis ran it (a timeout) when `lose`.
    let lose = false;
    const l2 = wrapL2Run(stack.l2, async (script, _keys, run) => {
      const reply = await run();
      if (script.name === 'relay-take' && lose) {
        lose = false;
        throw new Error('the reply was lost');
      }
      return reply;
    });
    const a = make({ l2 });
    await a.relayChanges();
    source.log.push(change('lost1', 1));
    lose = true;
    expect(await a.relayChanges()).toMatchObject({ status: 'failed' });
    // Without the release the lease stays for its PX (timeouts.l3 + 3 × timeouts.l2): 'busy'.
    expect(await stack.redis.exists(keys.lease)).toBe(0);
    expect(await a.relayChanges()).toEqual({ status: 'applied', changes: 1, gap: false });
    await a.close();
  });

  it('an idle app reads the log once per interval, however long a read takes', async () => {
    let now = 1_000_000;
    const clock = { now: () => now };
    const source = new ArraySource();
    const read = source.read.bind(source);
    source.read = async (cursor) => {
      now += 40; // the read takes time: the cursor is stored after the interval began
      return read(cursor);
    };
    const { make } = app(source);
    const a = make({ clock, capture: { source, relay: changeRelay({ interval: 1_000 }) } });
    await a.relayChanges();
    const polls = async () => {
      await a.find(players, 'idle');
      await a.settled();
    };
    const before = source.reads;
    for (let i = 0; i < 3; i++) {
      now += 960; // one interval after the last poll began
      await polls();
    }
    expect(source.reads - before).toBe(3);
    await a.close();
  });

  it('runs from calls, at most once per interval per app, without the calls waiting for it', async () => {
    const source = new ArraySource();
    const { make } = app(source);
    const a = make({ capture: { source, relay: changeRelay({ interval: 100 }) } });
    await a.relayChanges();
    await a.set(players, { id: 'tick1', username: 'tick1', level: 1 });
    await a.get(players, 'tick1');
    expect(a.peek(players, 'tick1')?.level).toBe(1);
    // A real outside change: Postgres holds level 2 at `version`, the caches level 1 until it is applied.
    const version = await externalUpdate(stack, players.identity, 'tick1', 2);
    source.log.push(change('tick1', version));
    const reads = source.reads;
    // Waits for what a caller sees, the new row, not for L1 to hold no copy: every call ticks the
    // relay (`peek` too), and when a poll nobody awaited applies the change between two tries, the
    // next `find` reads Postgres and L1 rightly keeps what it read (see the test below).
    await vi.waitFor(
      async () => {
        const row = await a.find(players, 'tick1');
        await a.settled();
        // The relay's stats say why, should it time out.
        expect(row?.level, JSON.stringify(a.stats().capture.relay)).toBe(2);
      },
      { timeout: 15_000, interval: 20 },
    );
    // No older copy: L1 holds the new row, or none (a read the apply fenced fills nothing).
    expect(a.peek(players, 'tick1')?.level).not.toBe(1);
    expect(a.stats().capture.relay?.changes).toBe(1);
    // Reads every ~20 ms for the waitFor, but the source was read only every interval.
    expect(source.reads - reads).toBeLessThanOrEqual(3);
    expect(a.stats().capture.relay?.lagMs).toBeGreaterThanOrEqual(0);
    await a.close();
  });

  it('a poll a peek started (nobody awaits it) applies between two reads: the next read answers the change', async () => {
    let now = Date.now();
    const clock = { now: () => now };
    const source = new ArraySource();
    const { make } = app(source);
    const a = make({ clock, capture: { source, relay: changeRelay({ interval: 100 }) } });
    await a.relayChanges();
    await a.set(players, { id: 'tick2', username: 'tick2', level: 1 });
    source.log.push(change('tick2', await externalUpdate(stack, players.identity, 'tick2', 2)));
    now += 100;
    // L1 answers at once; the peek's tick starts the poll in the background.
    expect(a.peek(players, 'tick2')?.level).toBe(1);
    // What happens between two tries of a waitFor: the poll applies the change.
    await a.settled();
    expect(a.stats().capture.relay).toMatchObject({ changes: 1, errors: 0 });
    expect(a.peek(players, 'tick2')).toBeUndefined();
    // L2 holds the marker: the read goes to Postgres, and L1 keeps its row, the change's.
    expect((await a.find(players, 'tick2'))?.level).toBe(2);
    expect(a.peek(players, 'tick2')?.level).toBe(2);
    await a.close();
  });

  it('the lease holder prunes the log past the retention, at most once an hour per instance', async () => {
    const source = new ArraySource();
    const { make } = app(source);
    const a = make({ capture: { source, relay: changeRelay({ interval: '1h', retention: '2h' }) } });
    await a.relayChanges();
    source.log.push(change('pr1', 1));
    await a.relayChanges();
    expect(source.prunes).toEqual([7_200_000]);
    expect(a.stats().capture.relay).toMatchObject({ prunes: 1, errors: 0 });
    const failing = new ArraySource();
    failing.prune = async () => {
      throw new Error('prune refused');
    };
    const b = app(failing).make({
      capture: { source: failing, relay: changeRelay({ interval: '1h', retention: '1d' }) },
    });
    expect(await b.relayChanges()).toMatchObject({ status: 'applied' });
    expect(b.stats().capture.relay).toMatchObject({ prunes: 0, errors: 1 });
    await Promise.all([a.close(), b.close()]);
  });

  it('a closed instance refuses to poll', async () => {
    const { make } = app(new ArraySource());
    const a = make();
    await a.close();
    const err = await a.relayChanges().catch((e: unknown) => e);
    expect(isStrataError(err, 'UNAVAILABLE')).toBe(true);
  });

  it("takes the L3's change log by default; is refused without a source or without an L2", () => {
    expect(() => new Strata({ l2: stack.l2, capture: { relay: changeRelay() } })).toThrow(/change source/);
    const byDefault = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: `${stack.keyPrefix}d`,
      capture: { relay: changeRelay() },
    });
    expect(byDefault.stats().capture.relay).toMatchObject({ polls: 0 });
    void byDefault.close();
    expect(() => new Strata({ l3: stack.l3, capture: { relay: changeRelay() } })).toThrow(/needs an L2/);
    expect(
      () => new Strata({ l3: stack.l3, capture: { source: new ArraySource(), relay: changeRelay() } }),
    ).toThrow(/needs an L2/);
  });
});
