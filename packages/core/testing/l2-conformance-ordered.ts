import { expect, it } from 'vitest';
import {
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  GENERATION_ERA,
  ownerTag,
} from '../src/l2/envelope.js';
import type { L2Suite } from './l2-conformance.js';
import {
  CONFORMANCE_OWNER,
  envelope,
  type GenerationKeys,
  generationKey as generationKeyOf,
  type OrderedEntry,
  type OrderedPutKeys,
  runDrop,
  runGeneration,
  runNextGeneration,
  runOrderedPut,
  runPut,
  runReserve,
  runResetGeneration,
  runSeedCounter,
  tickOf,
} from './l2-helpers.js';
import { SEPARATOR_PAYLOADS } from './l2-samples.js';

/**
 * A version past 2^40 * 8000, close to 2^53: Lua keeps it exactly (a double), but `..` or
 * `tostring` would print it with 14 significant digits (8.796093022208e+15).
 */
const HUGE = 2 ** 40 * 8000;

/** ORDERED_PUT with the counters it needs, and the generation scripts, through the tier. */
export function describeOrderedScripts(suite: L2Suite): void {
  const { key } = suite;
  /**
   * GENERATION's reply without its last element, Redis' time in ms (an integer, checked here to be
   * within 5 s of this process' clock: the same machine). Its generation and boot marker are bulk
   * strings; a client that JSON-parses replies hands '0' back as 0 (the known defect the seam's
   * JSON reply test shows), so there they are compared as text.
   */
  /**
   * A boot marker as set by a script: the token asked for, then `@` and the server's replication id
   * where a script may read it (INFO): the id is checked and cut off, the token returned.
   */
  const bornOn = (marked: unknown): unknown => {
    if (typeof marked !== 'string') return marked;
    const at = marked.lastIndexOf('@');
    if (at < 0) return marked;
    expect(marked.slice(at + 1), 'the server id a boot marker carries').toMatch(/^[0-9a-f]{40}$/);
    return marked.slice(0, at);
  };
  const generation = async (
    keys: GenerationKeys,
    bootMarker: string,
    claim?: Parameters<typeof runGeneration>[3],
  ): Promise<unknown> => {
    const reply = await runGeneration(suite.l2, keys, bootMarker, claim);
    if (!Array.isArray(reply)) return reply;
    const [current, marked, tick, other, redisNow] = reply as unknown[];
    expect(Number.isSafeInteger(redisNow), 'Redis time, ms').toBe(true);
    expect(Math.abs((redisNow as number) - Date.now())).toBeLessThan(5_000);
    const boot = bornOn(marked);
    if (suite.options.rawStrings !== 'json-parsed') return [current, boot, tick, other];
    return [String(current), String(boot), tick, String(other)];
  };
  const counters = (name: string): OrderedPutKeys => ({
    counter: key(`${name}:counter`),
    search: key(`${name}:search`),
  });
  /** The envelope ORDERED_PUT should have written for `entry` at `version`. */
  const expected = (
    entry: OrderedEntry,
    version: number,
    options: { pending?: boolean; owner?: string } = {},
  ): Envelope => ({
    kind: entry.kind,
    pending: options.pending ?? false,
    version,
    generation: 0,
    expiresAt: entry.expiresAt ?? 0,
    freshUntil: entry.expiresAt ?? 0,
    owner: options.owner ?? CONFORMANCE_OWNER,
    payload: entry.payload,
  });

  it('ORDERED_PUT replies {-1} and writes nothing while the counter is missing', async () => {
    const keys = counters('op:missing');
    const entry: OrderedEntry = { key: key('op:missing:row'), kind: 'r', payload: 'p' };
    expect(await runOrderedPut(suite.l2, keys, [entry])).toEqual([-1]);
    expect(await suite.l2.getMany([entry.key])).toEqual([null]);
    expect(await suite.raw.get(keys.counter)).toBeNull();
    expect(await suite.raw.get(keys.search)).toBeNull();
  });

  it('a write whose keys name an older generation writes nothing and replies the current one ({-4, gen})', async () => {
    const keys = counters('gen-moved');
    await runSeedCounter(suite.l2, keys.counter, 10);
    await suite.raw.set(generationKeyOf(keys.counter), '3');
    const row: OrderedEntry = { key: key('gen-moved:row'), kind: 'r', payload: 'p' };
    expect(await runOrderedPut(suite.l2, keys, [row], { generation: 2 })).toEqual([-4, 3]);
    expect(await runPut(suite.l2, [{ key: row.key, version: 1, value: envelope(1, 'x') }], [], 2)).toEqual([
      -4, 3,
    ]);
    expect(await runDrop(suite.l2, [{ key: row.key, rule: 'all' }], [], 2)).toEqual([-4, 3]);
    expect(await suite.l2.getMany([row.key])).toEqual([null]);
    expect(await suite.raw.get(keys.counter)).toBe('10');
    expect(await runOrderedPut(suite.l2, keys, [row], { generation: 3 })).toEqual([11, 1, 0]);
    await suite.raw.set(generationKeyOf(keys.counter), '0');
  });

  it('every write script INCRs the tick and replies with it; ORDERED_PUT and RESERVE refuse ({-3}) at or below a floor', async () => {
    const keys = counters('tick');
    await runSeedCounter(suite.l2, keys.counter, 10);
    const row: OrderedEntry = { key: key('tick:row'), kind: 'r', payload: 'p' };
    await runPut(suite.l2, [{ key: key('tick:put'), version: 1, value: envelope(1, 'x') }]);
    const first = tickOf()!;
    await runDrop(suite.l2, [{ key: key('tick:put'), rule: 'all' }]);
    expect(tickOf()).toBe(first + 1);
    // A floor the tick has not passed: the Redis went back; no version is handed out, nothing written.
    expect(await runOrderedPut(suite.l2, keys, [row], { floor: first + 5 })).toEqual([-3]);
    expect(await suite.l2.getMany([row.key])).toEqual([null]);
    expect(await suite.raw.get(keys.counter)).toBe('10');
    expect(await runReserve(suite.l2, keys.counter, 2, first + 10)).toEqual([-3]);
    expect(await suite.raw.get(keys.counter)).toBe('10');
    // Past the floor: RESERVE takes versions without writing; ORDERED_PUT continues after them.
    const floor = tickOf()!;
    expect(await runReserve(suite.l2, keys.counter, 2, floor)).toEqual([11]);
    expect(await runOrderedPut(suite.l2, keys, [row], { floor: tickOf()! })).toEqual([13, 1, 0]);
    expect(await runReserve(suite.l2, key('tick:missing'), 1)).toEqual([-1]);
  });

  it('ORDERED_PUT: consecutive versions from the counter, envelopes exactly as encodeEnvelope writes them', async () => {
    const keys = counters('op:seeded');
    expect(await runSeedCounter(suite.l2, keys.counter, 100)).toBe(100);
    const entries: OrderedEntry[] = [
      { key: key('op:seeded:r'), kind: 'r', payload: '{"id":"r","note":"a;b~c"}' },
      { key: key('op:seeded:a'), kind: 'a', ttlMs: 60_000, expiresAt: 1_900_000_000_000, payload: '' },
      { key: key('op:seeded:l'), kind: 'l', payload: '["r","x;y"]' },
    ];
    expect(await runOrderedPut(suite.l2, keys, entries)).toEqual([101, 1, 0, 0, 0]);
    const got = await suite.l2.getMany(entries.map((e) => e.key));
    entries.forEach((entry, i) => {
      const fields = expected(entry, 101 + i);
      expect(got[i]).toBe(encodeEnvelope(fields));
      expect(decodeEnvelope(got[i] ?? '')).toEqual(fields);
    });
    expect(await suite.raw.get(keys.counter)).toBe('103');
    expect(await suite.raw.get(keys.search)).toBe('1');
    // TTL 0: no expiry; otherwise PX.
    expect(await suite.raw.pttl(entries[0]!.key)).toBe(-1);
    const ttl = await suite.raw.pttl(entries[1]!.key);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);

    // The next call goes on from where the counter is, and moves the search generation again.
    const next: OrderedEntry = { key: key('op:seeded:next'), kind: 'r', payload: 'next' };
    expect(await runOrderedPut(suite.l2, keys, [next])).toEqual([104, 2, 0]);
    expect(decodeEnvelope((await suite.l2.getMany([next.key]))[0] ?? '')?.version).toBe(104);
  });

  it('ORDERED_PUT writes the pending flag and the owner as given, and payloads with separators intact', async () => {
    const keys = counters('op:fields');
    await runSeedCounter(suite.l2, keys.counter, 0);
    const owner = ownerTag('tenant_b.players');
    const entries: OrderedEntry[] = SEPARATOR_PAYLOADS.map((payload, i) => ({
      key: key(`op:fields:${i}`),
      kind: 'r',
      payload,
    }));
    const reply = await runOrderedPut(suite.l2, keys, entries, { pending: true, owner });
    expect(reply).toEqual([1, 1, ...entries.map(() => 0)]);
    const got = await suite.l2.getMany(entries.map((e) => e.key));
    expect(got.map((v) => decodeEnvelope(v ?? ''))).toEqual(
      entries.map((entry, i) => expected(entry, 1 + i, { pending: true, owner })),
    );
  });

  it('ORDERED_PUT held flags: 1 where the key held a row before, 0 for a tombstone, a list, a foreign value or nothing', async () => {
    const keys = counters('op:held');
    await runSeedCounter(suite.l2, keys.counter, 10);
    await runPut(suite.l2, [
      { key: key('op:held:row'), version: 3, value: envelope(3, 'row') },
      { key: key('op:held:pending'), version: 4, value: envelope(4, 'row', { pending: true }) },
      { key: key('op:held:tombstone'), version: 5, value: envelope(5, '', { kind: 'a' }) },
      { key: key('op:held:list'), version: 6, value: envelope(6, '[]', { kind: 'l' }) },
    ]);
    await suite.raw.set(key('op:held:foreign'), 'not ours');
    const names = ['row', 'pending', 'tombstone', 'list', 'foreign', 'missing'];
    const entries: OrderedEntry[] = names.map((name) => ({
      key: key(`op:held:${name}`),
      kind: 'r',
      payload: name,
    }));
    expect(await runOrderedPut(suite.l2, keys, entries)).toEqual([11, 1, 1, 1, 0, 0, 0, 0]);
    expect((await suite.l2.getMany(entries.map((e) => e.key))).map((v) => decodeEnvelope(v ?? ''))).toEqual(
      entries.map((entry, i) => expected(entry, 11 + i)),
    );
    // Now every key holds a row.
    expect(await runOrderedPut(suite.l2, keys, entries)).toEqual([17, 2, 1, 1, 1, 1, 1, 1]);
  });

  it('ORDERED_PUT replies {-2, stored} and writes nothing when a key holds a version the counter has not reached', async () => {
    const keys = counters('op:behind');
    await runSeedCounter(suite.l2, keys.counter, 10);
    await runPut(suite.l2, [
      { key: key('op:behind:ahead'), version: 50, value: envelope(50, 'from before') },
    ]);
    const entries: OrderedEntry[] = [
      { key: key('op:behind:free'), kind: 'r', payload: 'would be 11' },
      { key: key('op:behind:ahead'), kind: 'r', payload: 'would be 12' },
    ];
    expect(await runOrderedPut(suite.l2, keys, entries)).toEqual([-2, 50]);
    expect(await suite.l2.getMany(entries.map((e) => e.key))).toEqual([null, envelope(50, 'from before')]);
    // Not even a version taken: the refusal leaves the counter and the search generation as they were.
    expect(await suite.raw.get(keys.counter)).toBe('10');
    expect(await suite.raw.get(keys.search)).toBeNull();

    // Equal counts as reached: the version it would get is already there.
    await runPut(suite.l2, [{ key: key('op:behind:equal'), version: 11, value: envelope(11, 'eleven') }]);
    expect(
      await runOrderedPut(suite.l2, keys, [{ key: key('op:behind:equal'), kind: 'r', payload: 'x' }]),
    ).toEqual([-2, 11]);
    expect(await suite.l2.getMany([key('op:behind:equal')])).toEqual([envelope(11, 'eleven')]);
    expect(await suite.raw.get(keys.counter)).toBe('10');

    // Once the counter is past what is stored (SEED_COUNTER after the refusal), the write lands.
    expect(await runSeedCounter(suite.l2, keys.counter, 50)).toBe(50);
    expect(await runOrderedPut(suite.l2, keys, entries)).toEqual([51, 1, 0, 1]);
    expect((await suite.l2.getMany([entries[1]!.key])).map((v) => decodeEnvelope(v ?? ''))).toEqual([
      expected(entries[1]!, 52),
    ]);
  });

  it('versions near 2^53 are written, compared and replied exactly', async () => {
    const keys = counters('op:huge');
    expect(await runSeedCounter(suite.l2, keys.counter, HUGE)).toBe(HUGE);
    expect(await suite.raw.get(keys.counter)).toBe('8796093022208000');
    const entries: OrderedEntry[] = [1, 2, 3].map((i) => ({
      key: key(`op:huge:${i}`),
      kind: 'r',
      payload: `p${i}`,
    }));
    expect(await runOrderedPut(suite.l2, keys, entries)).toEqual([HUGE + 1, 1, 0, 0, 0]);
    const got = await suite.l2.getMany(entries.map((e) => e.key));
    expect(got).toEqual(entries.map((entry, i) => encodeEnvelope(expected(entry, HUGE + 1 + i))));
    expect(got[0]).toContain(';8796093022208001;');
    expect(await suite.raw.get(keys.counter)).toBe('8796093022208003');

    // Adjacent huge versions stay apart in every comparison.
    const k = entries[2]!.key;
    expect(
      await runPut(suite.l2, [{ key: k, version: HUGE + 2, value: envelope(HUGE + 2, 'older') }]),
    ).toEqual([0]);
    expect(
      await runPut(suite.l2, [{ key: k, version: HUGE + 4, value: envelope(HUGE + 4, 'newer') }]),
    ).toEqual([1]);
    expect(await runOrderedPut(suite.l2, keys, [{ key: k, kind: 'r', payload: 'x' }])).toEqual([
      -2,
      HUGE + 4,
    ]);
    expect(await runDrop(suite.l2, [{ key: k, rule: HUGE + 3 }])).toEqual([0]);
    expect(await runDrop(suite.l2, [{ key: k, rule: HUGE + 4 }])).toEqual([1]);
    const top = Number.MAX_SAFE_INTEGER;
    expect(await runPut(suite.l2, [{ key: k, version: top, value: envelope(top, 'top') }])).toEqual([1]);
    expect(await runPut(suite.l2, [{ key: k, version: top - 1, value: envelope(top - 1, 'below') }])).toEqual(
      [0],
    );
    expect(decodeEnvelope((await suite.l2.getMany([k]))[0] ?? '')?.version).toBe(top);
  });

  it('SEED_COUNTER raises a counter, never lowers it, and replies its value', async () => {
    const counter = key('seed:counter');
    expect(await runSeedCounter(suite.l2, counter, 5)).toBe(5);
    expect(await suite.raw.get(counter)).toBe('5');
    expect(await runSeedCounter(suite.l2, counter, 3)).toBe(5);
    expect(await runSeedCounter(suite.l2, counter, 5)).toBe(5);
    expect(await suite.raw.get(counter)).toBe('5');
    expect(await runSeedCounter(suite.l2, counter, 9)).toBe(9);
    expect(await suite.raw.get(counter)).toBe('9');
    // Seeding a missing counter at 0 creates it: ORDERED_PUT can then start at 1.
    expect(await runSeedCounter(suite.l2, key('seed:zero'), 0)).toBe(0);
    expect(await suite.raw.get(key('seed:zero'))).toBe('0');
    expect(await runSeedCounter(suite.l2, counter, HUGE + 7)).toBe(HUGE + 7);
    expect(await suite.raw.get(counter)).toBe('8796093022208007');
    expect(await runSeedCounter(suite.l2, counter, HUGE)).toBe(HUGE + 7);
  });

  it('GENERATION: generation 0 until one is stored; the boot marker is set once, the tick moves on every call', async () => {
    const keys = {
      generation: key('gen:generation'),
      boot: key('gen:boot'),
      tick: key('gen:tick'),
    };
    expect(await generation(keys, 'boot-alpha')).toEqual(['0', 'boot-alpha', 1, '']);
    expect(await generation(keys, 'boot-beta')).toEqual(['0', 'boot-alpha', 2, '']);
    expect(bornOn(await suite.raw.get(keys.boot))).toBe('boot-alpha');
    expect(
      await runNextGeneration(suite.l2, { generation: keys.generation, search: key('gen:search') }, 0),
    ).toBe(1);
    expect(await generation(keys, 'boot-beta')).toEqual(['1', 'boot-alpha', 3, '']);
    // A Redis that lost its data answers with the marker of whoever asks next.
    await runDrop(suite.l2, [{ key: keys.boot, rule: 'all' }]);
    expect(await generation(keys, 'boot-gamma')).toEqual(['1', 'boot-gamma', 4, '']);
    expect(await generation(keys, 'boot-delta')).toEqual(['1', 'boot-gamma', 5, '']);
  });

  it('GENERATION replaces, once, a boot marker born under another Redis server (a failover, a restart)', async () => {
    const keys = { generation: key('life:generation'), boot: key('life:boot'), tick: key('life:tick') };
    const read = async (token: string) => (await runGeneration(suite.l2, keys, token)) as unknown[];
    await read('bA');
    const marked = String(await suite.raw.get(keys.boot));
    if (!marked.includes('@')) return; // scripts that may not read INFO: no server id to compare
    expect(Number((await read('bB'))[9]), 'the same server: kept').toBe(0);
    expect(await suite.raw.get(keys.boot)).toBe(marked);
    await suite.raw.set(keys.boot, `bA@${'0'.repeat(40)}`);
    const renewed = await read('bC');
    expect([bornOn(renewed[1]), Number(renewed[9])]).toEqual(['bC', 1]);
    expect(await suite.raw.get(keys.boot)).toBe(marked.replace(/^bA/, 'bC'));
    expect(Number((await read('bD'))[9]), 'once').toBe(0);
    // A marker with no id (an older version set it): kept, nothing to compare.
    await suite.raw.set(keys.boot, 'bOld');
    const old = await read('bE');
    expect([String(old[1]), Number(old[9])]).toEqual(['bOld', 0]);
  });

  it('GENERATION with an L3 claim: taken when free, refreshed for the same identity, the holder replied to another (unchanged)', async () => {
    const keys = { generation: key('claim:generation'), boot: key('claim:boot'), tick: key('claim:tick') };
    const claim = (identity: string, ttlMs = 60_000) => ({ key: key('claim:l3'), identity, ttlMs });
    expect(await generation(keys, 'b', claim('pg:1/a'))).toEqual(['0', 'b', 1, '']);
    expect(await suite.raw.get(key('claim:l3'))).toBe('pg:1/a');
    expect(await generation(keys, 'b', claim('pg:1/a', 120_000))).toEqual(['0', 'b', 2, '']);
    expect(await suite.raw.pttl(key('claim:l3'))).toBeGreaterThan(60_000);
    expect(await generation(keys, 'b', claim('pg:2/b'))).toEqual(['0', 'b', 3, 'pg:1/a']);
    expect(await suite.raw.get(key('claim:l3'))).toBe('pg:1/a');
    // An unknown identity ('') checks nothing and takes nothing.
    expect(await generation(keys, 'b', claim(''))).toEqual(['0', 'b', 4, '']);
    expect(await suite.raw.get(key('claim:l3'))).toBe('pg:1/a');
  });

  it('NEXT_GENERATION moves the generation to max(stored, floor) + 1 (hard: the next era) and the search generation on', async () => {
    const keys = { generation: key('next:generation'), search: key('next:search') };
    const current = async () =>
      (
        (await generation(
          { generation: keys.generation, boot: key('next:boot'), tick: key('next:tick') },
          'b',
        )) as unknown[]
      )[0];
    expect(await runNextGeneration(suite.l2, keys, 0)).toBe(1);
    expect(await suite.raw.get(keys.search)).toBe('1');
    expect(await runNextGeneration(suite.l2, keys, 0)).toBe(2);
    expect(await runNextGeneration(suite.l2, keys, 10)).toBe(11);
    expect(await runNextGeneration(suite.l2, keys, 3)).toBe(12);
    expect(await runNextGeneration(suite.l2, keys, 12)).toBe(13);
    expect(await suite.raw.get(keys.generation)).toBe('13');
    expect(await suite.raw.get(keys.search)).toBe('5');
    expect(await current()).toBe('13');
    expect(await runNextGeneration(suite.l2, keys, HUGE)).toBe(HUGE + 1);
    expect(await suite.raw.get(keys.generation)).toBe('8796093022208001');
    expect(await current()).toBe('8796093022208001');
    expect(await runNextGeneration(suite.l2, keys, 0)).toBe(HUGE + 2);
    expect(await suite.raw.get(keys.search)).toBe('7');
    // A hard move starts the next era (GENERATION_ERA generations each), from wherever it is in one.
    expect(await runNextGeneration(suite.l2, keys, 0, true)).toBe(HUGE + GENERATION_ERA);
    expect(await runNextGeneration(suite.l2, keys, 0)).toBe(HUGE + GENERATION_ERA + 1);
    expect(await runNextGeneration(suite.l2, keys, 0, true)).toBe(HUGE + 2 * GENERATION_ERA);
    expect(await suite.raw.get(keys.search)).toBe('10');
  });

  it('RESET_GENERATION moves once per Redis life, however many instances find the reset', async () => {
    const keys = {
      generation: key('reset:generation'),
      search: key('reset:search'),
      moved: key('reset:moved'),
      boot: key('reset:boot'),
    };
    // The markers as stored (with the server id where there is one), by the token each was set from:
    // an instance replaces the marker it read, as it was stored.
    const stored = new Map<string, string>();
    const reset = async (options: Parameters<typeof runResetGeneration>[2]) => {
      const replace = (options.replace !== undefined && stored.get(options.replace)) || options.replace;
      const [generation, boot] = (await runResetGeneration(suite.l2, keys, {
        ...options,
        replace,
      })) as unknown[];
      stored.set(String(bornOn(boot)), String(boot));
      return [Number(generation), String(bornOn(boot))];
    };
    // Redis restarted empty: the first to find out sets the marker and moves; the next one, told
    // by that new marker (replace ''), does not move again.
    // Every move is hard: it starts the next era (see GENERATION_ERA).
    const E = GENERATION_ERA;
    expect(await reset({ token: 'bA', replace: '*' })).toEqual([E, 'bA']);
    expect(await reset({ token: 'bB', replace: '' })).toEqual([E, 'bA']);
    // A restore keeps the old life's marker: whoever finds it still there replaces it and moves;
    // one who found the same restore later (the same old marker) sees the new one, no move.
    expect(await reset({ token: 'bC', replace: 'bA' })).toEqual([2 * E, 'bC']);
    expect(await reset({ token: 'bD', replace: 'bA' })).toEqual([2 * E, 'bC']);
    expect(bornOn(await suite.raw.get(keys.boot))).toBe('bC');
    // Forced (L2 also missed a write): moves within the same life, past the floor too.
    expect(await reset({ token: 'bE', replace: '', force: true, floor: 10 })).toEqual([3 * E, 'bC']);
    expect(await suite.raw.get(keys.search)).toBe('3');
    // A marker gone (restarted empty again): set, and a move.
    await runDrop(suite.l2, [{ key: keys.boot, rule: 'all' }]);
    expect(await reset({ token: 'bF', replace: '' })).toEqual([4 * E, 'bF']);
    expect(await reset({ token: 'bG', replace: 'bC' })).toEqual([4 * E, 'bF']);
    // Past 2^53 / 1000 the generation still prints exactly.
    expect(await reset({ token: 'bH', replace: 'bF', floor: HUGE })).toEqual([HUGE + E, 'bH']);
  });
}
