import { describe, expect, it } from 'vitest';
import { InflightLoads } from './inflight-loads.js';
import { Loaded } from './loaded.js';

const load = (key: string) => Promise.resolve(new Loaded([key]));

describe('InflightLoads', () => {
  it('finds each key its load, and forgets only the key deleted', () => {
    const inflight = new InflightLoads();
    const a = load('a');
    const b = load('b');
    inflight.set('a', a);
    inflight.set('b', b);
    expect(inflight.get('a')).toBe(a);
    inflight.delete('a');
    expect(inflight.get('a')).toBeUndefined();
    expect(inflight.get('b')).toBe(b);
    expect(inflight.size).toBe(1);
  });

  it('keeps its last entry when another key is deleted, and drops it when its own is', () => {
    const inflight = new InflightLoads();
    const a = load('a');
    inflight.set('a', a);
    inflight.delete('z');
    expect(inflight.get('a')).toBe(a);
    expect(inflight.size).toBe(1);
    inflight.delete('a');
    expect(inflight.size).toBe(0);
    expect(inflight.get('a')).toBeUndefined();
    // Usable again after being emptied, and after a clear.
    inflight.set('a', a);
    expect(inflight.get('a')).toBe(a);
    inflight.clear();
    expect(inflight.size).toBe(0);
    expect(inflight.get('a')).toBeUndefined();
  });

  it('unlists only the keys still listed under the load, whole or key by key', () => {
    const inflight = new InflightLoads();
    const mine = load('a');
    const other = load('b');
    // Alone in the Map: all its keys go at once.
    inflight.set('a', mine);
    inflight.set('b', mine);
    inflight.unlist(['a', 'b'], mine);
    expect(inflight.size).toBe(0);
    // Another load listed one of its keys again (a write detached it): that entry stays.
    inflight.set('a', mine);
    inflight.set('b', other);
    inflight.unlist(['a', 'b'], mine);
    expect(inflight.get('a')).toBeUndefined();
    expect(inflight.get('b')).toBe(other);
    // As many entries as its keys, but one is another load's key: only its own go.
    inflight.clear();
    inflight.set('a', mine);
    inflight.set('c', other);
    inflight.unlist(['a', 'b'], mine);
    expect(inflight.get('c')).toBe(other);
    expect(inflight.size).toBe(1);
    // One key.
    inflight.set('z', mine);
    inflight.unlist(['z'], mine);
    expect(inflight.get('z')).toBeUndefined();
    expect(inflight.get('c')).toBe(other);
  });
});
