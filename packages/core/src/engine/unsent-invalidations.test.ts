import { describe, expect, it } from 'vitest';
import { UnsentInvalidations } from './unsent-invalidations.js';

describe('UnsentInvalidations', () => {
  it('keeps messages in order, and past 100 collapses them to one whole-schema message per schema', () => {
    const unsent = new UnsentInvalidations();
    expect(unsent.firstSchema()).toBeUndefined();
    unsent.keep({ schema: 'a', ids: ['1'], op: 'set', origin: 'o' });
    unsent.keep({ schema: 'b', ids: ['2'], op: 'delete', origin: 'o' });
    expect(unsent.firstSchema()).toBe('a');
    expect(unsent.take().map((m) => m.ids)).toEqual([['1'], ['2']]);
    expect(unsent.size).toBe(0);
    for (let i = 0; i < 101; i++)
      unsent.keep({ schema: i % 2 ? 'a' : 'b', ids: [String(i)], op: 'set', origin: 'o' });
    expect(unsent.take()).toEqual([
      { schema: 'b', ids: null, op: 'invalidateAll', origin: 'o' },
      { schema: 'a', ids: null, op: 'invalidateAll', origin: 'o' },
    ]);
  });
});
