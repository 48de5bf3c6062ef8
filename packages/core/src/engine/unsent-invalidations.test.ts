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

  it('a send out past the deadline is reclaimed: what it had not published is kept once, even when it fails later', () => {
    const unsent = new UnsentInvalidations();
    const batch = ['1', '2', '3'].map((id) => ({ schema: 'a', ids: [id], op: 'set' as const, origin: 'o' }));
    const send = unsent.sending(batch, 1_000);
    send.next = 1; // the first published, the second out since 1_000
    expect(unsent.reclaim(1_299, 300)).toBe(false);
    expect(unsent.reclaim(1_300, 300)).toBe(true);
    expect(unsent.sent(send)).toBe(false); // its own failure path keeps nothing more
    expect(unsent.take().map((m) => m.ids)).toEqual([['2'], ['3']]);
    const done = unsent.sending(batch, 2_000);
    expect(unsent.sent(done)).toBe(true);
    expect(unsent.reclaim(9_000, 300)).toBe(false);
  });
});
