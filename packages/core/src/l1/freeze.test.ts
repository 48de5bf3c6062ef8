import { describe, expect, it } from 'vitest';
import { deepFreeze } from './freeze.js';

describe('deepFreeze', () => {
  it('freezes plain objects and arrays all the way down, in place', () => {
    const value = { id: 1, tags: ['a', { deep: [1, 2] }], nested: { x: { y: 1 } } };
    const frozen = deepFreeze(value);
    expect(frozen).toBe(value);
    expect(Object.isFrozen(value)).toBe(true);
    expect(Object.isFrozen(value.tags)).toBe(true);
    expect(Object.isFrozen(value.tags[1])).toBe(true);
    expect(Object.isFrozen(value.nested.x)).toBe(true);
    expect(() => value.tags.push('b')).toThrow(TypeError);
    expect(() => {
      (value.nested.x as { y: number }).y = 2;
    }).toThrow(TypeError);
  });

  it('returns primitives, null and functions unchanged', () => {
    for (const v of [1, 'a', null, undefined, true, 10n]) expect(deepFreeze(v)).toBe(v);
    const fn = () => 1;
    expect(Object.isFrozen(deepFreeze(fn))).toBe(false);
  });

  it('handles cycles and shared references', () => {
    const shared = { n: 1 };
    const a: { self?: unknown; shared: object; list: object[] } = { shared, list: [shared] };
    a.self = a;
    deepFreeze(a);
    expect(Object.isFrozen(a)).toBe(true);
    expect(Object.isFrozen(shared)).toBe(true);
  });

  it('freezes symbol-keyed and non-enumerable properties without calling getters', () => {
    const sym = Symbol('s');
    let calls = 0;
    const value = { [sym]: { a: 1 } };
    Object.defineProperty(value, 'hidden', { value: { b: 2 }, enumerable: false });
    Object.defineProperty(value, 'lazy', { get: () => ++calls, enumerable: true });
    deepFreeze(value);
    expect(Object.isFrozen(value[sym])).toBe(true);
    expect(Object.isFrozen((value as unknown as { hidden: object }).hidden)).toBe(true);
    expect(calls).toBe(0);
  });

  it('leaves typed arrays and buffers writable (they cannot be frozen) and does not throw', () => {
    const bytes = new Uint8Array([1, 2, 3]);
    const value = { bytes, buffer: new ArrayBuffer(4), view: new DataView(new ArrayBuffer(2)) };
    expect(() => deepFreeze(value)).not.toThrow();
    expect(Object.isFrozen(value)).toBe(true);
    bytes[0] = 9;
    expect(bytes[0]).toBe(9);
  });

  it('Date: frozen against new properties, but its setters still work', () => {
    const date = new Date(0);
    deepFreeze({ date });
    expect(Object.isFrozen(date)).toBe(true);
    date.setTime(1000);
    expect(date.getTime()).toBe(1000);
  });

  it('Map/Set: contents are deep-frozen, the collection stays mutable', () => {
    const key = { k: 1 };
    const val = { v: 1 };
    const item = { i: 1 };
    const map = new Map([[key, val]]);
    const set = new Set([item]);
    deepFreeze({ map, set });
    expect([key, val, item, map, set].every((o) => Object.isFrozen(o))).toBe(true);
    map.set({ k: 2 }, { v: 2 });
    set.add({ i: 2 });
    expect(map.size).toBe(2);
    expect(set.size).toBe(2);
  });

  it('freezes a long chain without blowing the stack', () => {
    let head: { next?: object } = {};
    for (let i = 0; i < 200_000; i++) head = { next: head };
    expect(() => deepFreeze(head)).not.toThrow();
    expect(Object.isFrozen(head.next)).toBe(true);
  });
});
