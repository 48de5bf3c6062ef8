import { describe, expect, it } from 'vitest';
import { L2Watch } from '../engine/l2-watch.js';
import { isStrataError } from '../errors.js';
import { decodeInvalidation, encodeInvalidation, MAX_INVALIDATION_IDS, ownPrefix } from './message.js';
import type { Invalidation } from './types.js';

const valid: Invalidation = { schema: 'users', ids: ['1', 'a:b'], op: 'set', origin: 'api-1' };
const json = (value: unknown) => JSON.stringify(value);

describe('encodeInvalidation / decodeInvalidation', () => {
  it('round-trips every op, ids: null, and awkward ids', () => {
    const messages: Invalidation[] = [
      valid,
      { schema: 's', ids: null, op: 'invalidateAll', origin: '' },
      { schema: 's', ids: [], op: 'delete', origin: 'o' },
      {
        schema: 'x'.repeat(64),
        ids: ['', 'é', '🎉', '"quoted",comma', '\n\u0000'],
        op: 'invalidate',
        origin: 'o',
      },
    ];
    for (const message of messages) expect(decodeInvalidation(encodeInvalidation(message))).toEqual(message);
  });

  it('encodes exactly the four fields, origin first', () => {
    const extra = { ...valid, secret: 'x' } as Invalidation;
    expect(encodeInvalidation(extra)).toBe(
      '{"origin":"api-1","schema":"users","ids":["1","a:b"],"op":"set"}',
    );
  });

  it("names the publisher's app right after origin, and decodes it back", () => {
    const named = { ...valid, app: 'shop' };
    const wire = encodeInvalidation(named);
    expect(wire).toBe('{"origin":"api-1","app":"shop","schema":"users","ids":["1","a:b"],"op":"set"}');
    expect(wire.startsWith(ownPrefix('api-1'))).toBe(true);
    expect(decodeInvalidation(wire)).toEqual(named);
    // An older publisher names none: read as before (the receiver takes it as its own app's).
    expect(decodeInvalidation(encodeInvalidation(valid))).not.toHaveProperty('app');
    expect(
      decodeInvalidation('{"origin":"o","app":"","schema":"s","ids":null,"op":"invalidateAll"}'),
    ).toBeUndefined();
  });

  it('ownPrefix begins every message of its origin and of no other one', () => {
    const origins = ['api-1', 'api-10', 'api-', '', 'é"\\🎉', 'a,"schema":"x'];
    for (const origin of origins) {
      for (const other of origins) {
        for (const message of [
          { ...valid, origin: other },
          { schema: 's', ids: null, op: 'invalidateAll', origin: other } as Invalidation,
          { ...valid, origin: other, versions: [1, 2], ticks: ['b1:2'] },
        ]) {
          const wire = encodeInvalidation(message);
          expect(wire.startsWith(ownPrefix(origin)), `${origin} / ${wire}`).toBe(origin === other);
        }
      }
    }
    // An id or schema that spells the prefix is inside a string: its quotes are escaped.
    const spoof = encodeInvalidation({ ...valid, schema: '{"origin":"api-1",', origin: 'x' });
    expect(spoof.startsWith(ownPrefix('api-1'))).toBe(false);
  });

  it('refuses to encode what receivers would drop', () => {
    const bad: Invalidation[] = [
      { ...valid, schema: '' },
      { ...valid, ids: Array.from({ length: MAX_INVALIDATION_IDS + 1 }, (_, i) => String(i)) },
      { ...valid, ids: ['x'.repeat(1_025)] },
    ];
    for (const message of bad) {
      let error: unknown;
      try {
        encodeInvalidation(message);
      } catch (e) {
        error = e;
      }
      expect(isStrataError(error, 'ENCODE_FAILED')).toBe(true);
    }
  });

  it("accepts the Go library Strata's {schema, id, op}", () => {
    expect(decodeInvalidation('{"schema":"players","id":"p1","op":"set"}')).toEqual({
      schema: 'players',
      ids: ['p1'],
      op: 'set',
      origin: '',
    });
    expect(decodeInvalidation(json({ schema: 'players', id: '', op: 'invalidateAll' }))?.ids).toBeNull();
  });

  it("round-trips a publisher's ticks, and leaves malformed ones out without dropping the message", () => {
    const ticked = { ...valid, ticks: ['b0a1:12', ''] };
    expect(decodeInvalidation(encodeInvalidation(ticked))).toEqual(ticked);
    // What a watch tells at its longest: a marker with the server's id and a 16-digit tick. (With
    // the id, a bound of 64 dropped every tick past 99 as malformed.)
    const watch = new L2Watch(() => {});
    watch.observe(`${watch.newMarker()}@${'f'.repeat(40)}`, 9_007_199_254_740_991, 0);
    const longest = { ...valid, ticks: [watch.told()] };
    expect(watch.told()).toHaveLength(77);
    expect(decodeInvalidation(encodeInvalidation(longest))).toEqual(longest);
    for (const ticks of [7, [1], ['x'.repeat(97)], Array.from({ length: 16_385 }, () => '')])
      expect(decodeInvalidation(json({ ...valid, ticks }))).toEqual(valid);
  });

  it('round-trips a reset answer (`restored`); anything but true is no answer, not a dropped message', () => {
    const answer: Invalidation = {
      schema: 'users',
      ids: [],
      op: 'set',
      origin: 'api-2',
      restored: true,
      ticks: ['b1:4'],
    };
    expect(encodeInvalidation(answer)).toContain('"restored":true');
    expect(decodeInvalidation(encodeInvalidation(answer))).toEqual(answer);
    for (const restored of [false, 'true', 1])
      expect(decodeInvalidation(json({ ...valid, restored }))).toEqual(valid);
    expect(encodeInvalidation(valid)).not.toContain('restored');
  });

  it('round-trips an ask (a subscription back after a gap); anything but true is no ask', () => {
    const ask: Invalidation = { schema: 'users', ids: [], op: 'set', origin: 'api-3', ask: true };
    expect(encodeInvalidation(ask)).toContain('"ask":true');
    expect(decodeInvalidation(encodeInvalidation(ask))).toEqual(ask);
    expect(decodeInvalidation(encodeInvalidation({ ...ask, restored: true }))).toEqual({
      ...ask,
      restored: true,
    });
    for (const flag of [false, 'true', 1])
      expect(decodeInvalidation(json({ ...valid, ask: flag }))).toEqual(valid);
  });

  it('accepts a value already parsed from JSON', () => {
    expect(decodeInvalidation({ ...valid })).toEqual(valid);
  });

  it('ignores unknown fields (a newer publisher must not make older receivers drop messages)', () => {
    const decoded = decodeInvalidation(json({ ...valid, version: 2, meta: { a: 1 } }));
    expect(decoded).toEqual(valid);
    expect(Object.keys(decoded ?? {})).toEqual(['schema', 'ids', 'op', 'origin']);
  });

  it('has exactly 10,000 ids of 1 KiB as its limit', () => {
    const most = Array.from({ length: MAX_INVALIDATION_IDS }, (_, i) => String(i));
    expect(decodeInvalidation(json({ ...valid, ids: most }))?.ids).toHaveLength(MAX_INVALIDATION_IDS);
    expect(decodeInvalidation(json({ ...valid, ids: ['x'.repeat(1_024)] }))).toBeDefined();
    // 1 KiB counts UTF-8 bytes: 512 two-byte characters fit, 342 three-byte ones do not.
    expect(decodeInvalidation(json({ ...valid, ids: ['é'.repeat(512)] }))).toBeDefined();
    expect(decodeInvalidation(json({ ...valid, ids: ['€'.repeat(342)] }))).toBeUndefined();
    expect(decodeInvalidation(json({ ...valid, ids: ['🎉'.repeat(256)] }))).toBeDefined();
    expect(decodeInvalidation(json({ ...valid, ids: ['🎉'.repeat(257)] }))).toBeUndefined();
  });

  const malformed: [string, unknown][] = [
    ['not JSON', 'not json'],
    ['empty text', ''],
    ['truncated JSON', '{"schema":"users","ids":["1"'],
    ['JSON null', 'null'],
    ['a JSON array', '[1,2]'],
    ['a JSON string', '"users"'],
    ['a number value', 42],
    ['undefined', undefined],
    ['schema missing', json({ ids: ['1'], op: 'set', origin: 'o' })],
    ['schema empty', json({ ...valid, schema: '' })],
    ['schema too long', json({ ...valid, schema: 'x'.repeat(380) })],
    ['versions not matching ids', json({ ...valid, versions: [1] })],
    ['versions without ids', json({ ...valid, ids: null, versions: [] })],
    ['a version not an integer', json({ ...valid, versions: [1.5] })],
    ['a negative version', json({ ...valid, versions: [-1] })],
    ['schema a number', json({ ...valid, schema: 1 })],
    ['ids a string', json({ ...valid, ids: '1' })],
    ['ids with a number', json({ ...valid, ids: ['1', 2] })],
    ['ids with null', json({ ...valid, ids: [null] })],
    ['ids missing (and no single id)', json({ schema: 's', op: 'set', origin: 'o' })],
    ['too many ids', json({ ...valid, ids: Array.from({ length: 10_001 }, (_, i) => String(i)) })],
    ['an id over 1 KiB', json({ ...valid, ids: ['x'.repeat(1_025)] })],
    ['unknown op', json({ ...valid, op: 'upsert' })],
    ['op in another case', json({ ...valid, op: 'SET' })],
    ['origin missing', json({ schema: 's', ids: ['1'], op: 'set' })],
    ['origin a number', json({ ...valid, origin: 7 })],
    ['origin too long', json({ ...valid, origin: 'o'.repeat(257) })],
    ['both id and ids', json({ ...valid, id: '1' })],
    ['single id a number', json({ schema: 's', id: 1, op: 'set' })],
    ['single id over 1 KiB', json({ schema: 's', id: 'x'.repeat(1_025), op: 'set' })],
    ['__proto__ key', `{"__proto__":{"polluted":true},"schema":"s","ids":["1"],"op":"set","origin":"o"}`],
    ['constructor key', json({ ...valid, constructor: { prototype: { polluted: true } } })],
    ['prototype key', json({ ...valid, prototype: {} })],
    ['huge text (over 16 MiB)', `{"schema":"s","ids":["${'x'.repeat(16 * 1024 * 1024)}"]}`],
  ];

  it.each(malformed)('drops %s', (_label, raw) => {
    expect(decodeInvalidation(raw)).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('returns fresh objects, never the parsed input', () => {
    const input = { ...valid, ids: ['1'] };
    const decoded = decodeInvalidation(input);
    expect(decoded).not.toBe(input);
    expect(decoded?.ids).not.toBe(input.ids);
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
  });
});
