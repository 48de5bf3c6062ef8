import { expect, it } from 'vitest';
import { isStrataError } from '../src/errors.js';
import { decodeEnvelope } from '../src/l2/envelope.js';
import { PUT } from '../src/l2/scripts.js';
import type { L2Script } from '../src/l2/types.js';
import type { L2ConformanceOptions, L2Suite } from './l2-conformance.js';
import { envelope, floorMarker, rejection, runDrop, runPut, scriptSha1 } from './l2-helpers.js';
import {
  BINARY_LOOKING_VALUES,
  oneMebibyteValue,
  SEPARATOR_PAYLOADS,
  TRICKY_KEY_SUFFIXES,
  TRICKY_VALUES,
} from './l2-samples.js';

/** Plain SETs of ARGV[i] at KEYS[i]: raw strings written through `run`, whatever their format. */
const SET_ALL: L2Script = {
  name: 'conformance-set-all',
  source: "for i, key in ipairs(KEYS) do redis.call('SET', key, ARGV[i]) end\nreturn #KEYS",
};

/** The MGET of KEYS, as a script reply. */
const GET_ALL: L2Script = {
  name: 'conformance-get-all',
  source: "return redis.call('MGET', unpack(KEYS))",
};

/** An ad-hoc script of this suite (reply shapes, errors, setup a Strata script never does). */
const script = (name: string, source: string): L2Script => ({ name: `conformance-${name}`, source });

/** The seam: MGET, `run` (replies, NOSCRIPT, errors) and `close`, whatever the scripts say. */
export function describeSeam(suite: L2Suite): void {
  const { key } = suite;

  /**
   * The fewest round trips `call` took over a few tries. A script the server knows costs one; a
   * concurrent `SCRIPT FLUSH` (the NOSCRIPT tests of another file on the same Redis) can add one
   * to a single try, never to all of them.
   */
  async function fewestRoundTrips(call: () => Promise<unknown>): Promise<number> {
    let fewest = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 3 && fewest > 1; i++) fewest = Math.min(fewest, await suite.roundTrips(call));
    return fewest;
  }

  it('run with sendBy: sent before it; refused as L2_UNAVAILABLE once it has passed, the script not run', async () => {
    const k = key('send-by');
    expect(await suite.l2.run(SET_ALL, [k], ['before'], performance.now() + 60_000)).toBe(1);
    const late = await rejection(suite.l2.run(SET_ALL, [k], ['after'], performance.now() - 1));
    expect(isStrataError(late, 'L2_UNAVAILABLE')).toBe(true);
    expect(await suite.l2.getMany([k])).toEqual(['before']);
  });

  it('getMany answers in key order, null for missing keys and non-strings, repeats for repeated keys', async () => {
    const [a, b, c] = [envelope(1, 'A'), envelope(2, 'B'), envelope(3, 'C')];
    await suite.l2.run(SET_ALL, [key('order:a'), key('order:b'), key('order:c')], [a, b, c]);
    await suite.l2.run(
      script('hset', "return redis.call('HSET', KEYS[1], 'f', 'v')"),
      [key('order:hash')],
      [],
    );
    const got = await suite.l2.getMany(
      ['order:c', 'order:missing', 'order:a', 'order:b', 'order:hash', 'order:a'].map(key),
    );
    expect(got).toEqual([c, null, a, b, null, a]);
    expect(await suite.l2.getMany([key('order:missing')])).toEqual([null]);
  });

  it('one round trip per call whatever the number of keys, none for an empty list', async () => {
    const keys = Array.from({ length: 500 }, (_, i) => key(`trips:${i}`));
    const entries = keys.map((k, i) => ({ key: k, version: i, value: envelope(i, `p${i}`) }));
    await runPut(suite.l2, entries.slice(0, 1));

    expect(await suite.roundTrips(async () => expect(await suite.l2.getMany([])).toEqual([]))).toBe(0);
    expect(await fewestRoundTrips(() => runPut(suite.l2, entries))).toBe(1);
    expect(
      await suite.roundTrips(async () => {
        expect(await suite.l2.getMany(keys)).toEqual(entries.map((e) => e.value));
      }),
    ).toBe(1);
    expect(await fewestRoundTrips(() => runDrop(suite.l2, [{ key: keys[0]!, rule: 'all' }]))).toBe(1);
  });

  it('values come back as exactly the strings written: JSON-, number- and binary-looking, unicode, NUL', async () => {
    const values = [...TRICKY_VALUES, ...BINARY_LOOKING_VALUES];
    // As envelope payloads (all Strata writes): exact on every tier.
    const wrapped = values.map((value, i) => envelope(i, value));
    const wrappedKeys = values.map((_, i) => key(`value:wrapped:${i}`));
    await runPut(
      suite.l2,
      wrappedKeys.map((k, i) => ({ key: k, version: i, value: wrapped[i]! })),
    );
    const got = await suite.l2.getMany(wrappedKeys);
    expect(got).toEqual(wrapped);
    expect(got.map((v) => decodeEnvelope(v ?? '')?.payload)).toEqual(values);

    // As raw strings (another writer's): exact where the tier promises it, else a miss or a string.
    const keys = values.map((_, i) => key(`value:${i}`));
    expect(await suite.l2.run(SET_ALL, keys, values)).toBe(values.length);
    const raw = await suite.l2.getMany(keys);
    const exact = values.map((v) => readsExactly(v, suite.options));
    expect(raw.filter((_, i) => exact[i])).toEqual(values.filter((_, i) => exact[i]));
    for (const v of raw) expect(v === null || typeof v === 'string').toBe(true);
    // Stored as sent, not a mangling the tier undoes on the way back: another client reads the same.
    const stored = await Promise.all(keys.map((k) => suite.raw.get(k)));
    expect(stored.filter((_, i) => exact[i])).toEqual(values.filter((_, i) => exact[i]));
    // And a script reply carries them unchanged too.
    const replied = values.filter((v, i) => exact[i] && !isJsonText(v));
    const repliedKeys = replied.map((_, i) => key(`value:replied:${i}`));
    await suite.l2.run(SET_ALL, repliedKeys, replied);
    expect(await suite.l2.run(GET_ALL, repliedKeys, [])).toEqual(replied);
  });

  // A known defect where a client JSON-parses replies: `run` hands back 42 for the bulk string
  // '42' (GENERATION's generation and boot marker are bulk strings). Expected to fail there until
  // the tier stops the client from parsing script replies.
  (suite.options.rawStrings === 'json-parsed' ? it.fails : it)(
    'a script reply carries bulk strings that look like JSON or numbers unchanged',
    async () => {
      const jsonLike = TRICKY_VALUES.filter(isJsonText);
      const keys = jsonLike.map((_, i) => key(`value:json:${i}`));
      await suite.l2.run(SET_ALL, keys, jsonLike);
      expect(await suite.l2.run(GET_ALL, keys, [])).toEqual(jsonLike);
    },
  );

  it('envelopes whose payload holds `;`, `~` or a whole header read back field for field', async () => {
    const keys = SEPARATOR_PAYLOADS.map((_, i) => key(`separators:${i}`));
    const values = SEPARATOR_PAYLOADS.map((payload, i) =>
      envelope(i + 1, payload, {
        kind: i % 2 === 0 ? 'r' : 'l',
        pending: i % 3 === 0,
        expiresAt: 1_700_000_000_000,
      }),
    );
    expect(
      await runPut(
        suite.l2,
        keys.map((k, i) => ({ key: k, version: i + 1, value: values[i]! })),
      ),
    ).toEqual(keys.map(() => 1));
    const got = await suite.l2.getMany(keys);
    expect(got).toEqual(values);
    expect(got.map((v) => decodeEnvelope(v ?? '')?.payload)).toEqual(SEPARATOR_PAYLOADS);
    // The header is read from the start only: a payload holding a newer "version" does not count.
    expect(await runPut(suite.l2, [{ key: keys[5]!, version: 7, value: envelope(7, 'replaced') }])).toEqual([
      1,
    ]);
  });

  it('a 1 MiB value round-trips, raw and as an envelope payload', async () => {
    const big = oneMebibyteValue();
    const wrapped = envelope(1, big);
    await suite.l2.run(SET_ALL, [key('big:raw')], [big]);
    expect(
      await runPut(suite.l2, [{ key: key('big:envelope'), version: 1, ttlMs: 60_000, value: wrapped }]),
    ).toEqual([1]);
    const [raw, found] = await suite.l2.getMany([key('big:raw'), key('big:envelope')]);
    // Not toEqual(big): a failure would print megabytes.
    expect(raw?.length).toBe(big.length);
    expect(raw === big).toBe(true);
    expect(found === wrapped).toBe(true);
    expect(decodeEnvelope(found ?? '')?.payload === big).toBe(true);
  });

  it('keys with colons, spaces and unicode work with getMany and every script', async () => {
    const keys = TRICKY_KEY_SUFFIXES.map((suffix) => key(`tricky:${suffix}`));
    const values = keys.map((_, i) => envelope(i, `v${i}`));
    const bump = `${keys[1]}:gen`;
    expect(
      await runPut(
        suite.l2,
        keys.map((k, i) => ({ key: k, version: i, value: values[i]! })),
        [bump],
      ),
    ).toEqual([...keys.map(() => 1), 1]);
    expect(await suite.l2.getMany(keys)).toEqual(values);
    expect(
      await runDrop(
        suite.l2,
        keys.map((k) => ({ key: k, rule: 'all' })),
        [bump],
      ),
    ).toEqual([keys.length, 2]);
    // Each dropped row leaves its version floor (see DROP) under its own key.
    expect(await suite.l2.getMany(keys)).toEqual(keys.map((_, i) => floorMarker(i)));
  });

  it('run resolves integers as numbers, bulk and status strings as strings, nil as null, arrays as arrays', async () => {
    const run = (source: string, args: string[] = []) => suite.l2.run(script('reply', source), [], args);
    expect(await run('return 42')).toBe(42);
    expect(await run('return -7')).toBe(-7);
    expect(await run('return 0')).toBe(0);
    // Near 2^53 (not within 48 of it: ioredis 6 decodes those integer replies off by one or two).
    expect(await run('return 8796093022208001')).toBe(8_796_093_022_208_001);
    // Lua numbers reach the client as integers, truncated: a script must format fractions itself.
    expect(await run('return 3.99')).toBe(3);
    expect(await run("return 'two'")).toBe('two');
    expect(await run("return ''")).toBe('');
    expect(await run('return ARGV[1]', ['héllo 🚀'])).toBe('héllo 🚀');
    expect(await run("return redis.status_reply('DONE')")).toBe('DONE');
    expect(await run('return nil')).toBeNull();
    expect(await run("return {1, 'two', {3, {'four', {}}}, {}, 'five'}")).toEqual([
      1,
      'two',
      [3, ['four', []]],
      [],
      'five',
    ]);
    // A missing key inside an array (Lua false from GET) is a nil there.
    expect(
      await suite.l2.run(
        script('nested-nil', "return {1, redis.call('GET', KEYS[1]), 'three'}"),
        [key('reply:missing')],
        [],
      ),
    ).toEqual([1, null, 'three']);
  });

  it('a script the server does not know runs through EVAL the first time, then by its SHA-1', async () => {
    // Unique to this run, so the server has never seen it: EVALSHA answers NOSCRIPT, then EVAL.
    const fresh = script('fresh', `-- ${key('fresh')}\nreturn ARGV[1]`);
    // With a key, as every Strata script: a Cluster sends a keyless script to any master, and
    // each master caches scripts of its own.
    const on = [key('fresh')];
    const freshSha = await scriptSha1(fresh);
    expect(await suite.raw.scriptExists(freshSha)).toBe(false);
    let reply: unknown;
    expect(
      await suite.roundTrips(async () => {
        reply = await suite.l2.run(fresh, on, ['first']);
      }),
    ).toBe(2);
    expect(reply).toBe('first');
    // EVAL cached it: from now on one round trip.
    expect(await suite.raw.scriptExists(freshSha)).toBe(true);
    expect(await fewestRoundTrips(() => suite.l2.run(fresh, on, ['again']))).toBe(1);

    // (A server that forgot scripts the tier ran before — a restart, SCRIPT FLUSH — answers NOSCRIPT
    // the same way. The suite does not flush: the script cache belongs to everything on the Redis,
    // and other files count their round trips on it.)
    expect(await suite.l2.run(fresh, on, ['again'])).toBe('again');
  });

  it('an error raised in a script rejects the call (not as a StrataError), and the tier keeps working', async () => {
    const failures: [L2Script, string[], RegExp][] = [
      [script('error-reply', "return redis.error_reply('CONFORMANCE boom')"), [], /CONFORMANCE boom/],
      [script('error-table', "return error({err = 'CONFORMANCE table'})"), [], /CONFORMANCE table/],
      [script('runtime', "return redis.call('INCR', KEYS[1])"), [key('errors:text')], /not an integer/],
      [script('compile', `return ( -- ${key('compile')}`), [], /compil/i],
      // The scripts read headers with GETRANGE: a key of another type is an error, not a miss.
      [PUT, [key('errors:hash')], /WRONGTYPE/],
    ];
    await suite.l2.run(SET_ALL, [key('errors:text')], ['not a number']);
    await suite.l2.run(
      script('hset', "return redis.call('HSET', KEYS[1], 'f', 'v')"),
      [key('errors:hash')],
      [],
    );
    for (const [failing, keys, message] of failures) {
      const args = failing === PUT ? ['1', '1', '0', envelope(1, 'x')] : [];
      const error = await rejection(suite.l2.run(failing, keys, args));
      expect(error).toBeInstanceOf(Error);
      expect(isStrataError(error)).toBe(false);
      expect((error as Error).message).toMatch(message);
    }
    expect(await suite.l2.getMany([key('errors:text')])).toEqual(['not a number']);
    expect(await suite.l2.run(script('after-errors', 'return 1'), [], [])).toBe(1);
  });

  it('close() can be called twice', async () => {
    const other = await suite.another();
    try {
      expect(await other.tier.getMany([`${other.prefix}x`])).toEqual([null]);
      await other.tier.close();
      await other.tier.close();
    } finally {
      await other.cleanup();
    }
  });
}

/** Whether a tier with `options` promises to read the raw string `value` exactly. */
function readsExactly(value: string, options: L2ConformanceOptions): boolean {
  const rule = options.rawStrings ?? 'exact';
  if (rule === 'exact') return true;
  if (value.startsWith('\uFEFF')) return false;
  return rule === 'bom-dropped' || !isJsonText(value);
}

/** Whether `value` parses as JSON (a client that JSON-parses replies would turn it into something else). */
function isJsonText(value: string): boolean {
  try {
    JSON.parse(value);
    return true;
  } catch {
    return false;
  }
}
