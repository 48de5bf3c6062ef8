import { describe, expect, it } from 'vitest';
import { freezeRow } from './freeze-row.js';

describe('freezeRow', () => {
  it('freezes nested objects and arrays; leaves bytes alone', () => {
    const row = freezeRow({
      id: 'a',
      profile: { tags: ['x', { deep: 1 }] },
      at: new Date(0),
      bytes: new Uint8Array([1, 2]),
    });
    expect(Object.isFrozen(row)).toBe(true);
    expect(Object.isFrozen(row.profile)).toBe(true);
    expect(Object.isFrozen(row.profile.tags)).toBe(true);
    expect(Object.isFrozen(row.profile.tags[1])).toBe(true);
    expect(Object.isFrozen(row.at)).toBe(true);
    expect(() => {
      (row.profile.tags as unknown[]).push('y');
    }).toThrow(TypeError);
    expect(() => {
      (row as { id: string }).id = 'b';
    }).toThrow(TypeError);
    expect([...row.bytes]).toEqual([1, 2]);
  });
});
