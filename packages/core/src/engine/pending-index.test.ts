import { describe, expect, it } from 'vitest';
import { entryTail, indexEntry } from './pending-index.js';

describe('pending index entries', () => {
  it('reads a row, a row with its defaults named, and a queued delete', () => {
    expect(indexEntry('7;r;{"a":1;2}')).toEqual({ version: 7, row: '{"a":1;2}' });
    expect(indexEntry('7;d;["d","e"];{"a":1}')).toEqual({ version: 7, row: '{"a":1}', defaults: ['d', 'e'] });
    expect(indexEntry('7;a;')).toEqual({ version: 7 });
    // An entry without names (an older Strata's): no defaults.
    expect(indexEntry('7;r;["d"];x')).toEqual({ version: 7, row: '["d"];x' });
  });

  it('finds the end of the names past a `];` inside a column key, and refuses what is no entry', () => {
    const names = ['x];y', 'z'];
    expect(entryTail(`d;${JSON.stringify(names)};row];`, 0)).toEqual({ row: 'row];', defaults: names });
    expect(entryTail('d;[];row', 0)).toEqual({ row: 'row' });
    expect(entryTail('d;["d";row', 0)).toBeUndefined();
    expect(indexEntry('7')).toBeUndefined();
    expect(indexEntry(7)).toBeUndefined();
  });
});
