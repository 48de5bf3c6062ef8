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
});
