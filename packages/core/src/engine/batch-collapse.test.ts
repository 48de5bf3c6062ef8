import { describe, expect, it } from 'vitest';
import type { CompiledSchema } from '../schema/types.js';
import { laterSetOver } from './batch-collapse.js';

// Pure logic: only what `mergeOver` reads of a schema (its columns and insert-only keys).
const schema = {
  columns: ['id', 'n', 'note', 'made'].map((key) => ({ key })),
  insertOnlyKeys: ['made'],
} as unknown as CompiledSchema;

describe('laterSetOver: a key set twice in one call', () => {
  it('the columns the later row leaves out keep the earlier row’s values; the ones it gives win', () => {
    expect(laterSetOver(schema, { id: 'k', n: 1, note: 'a', made: 1 }, { id: 'k', n: 2 })).toEqual({
      id: 'k',
      n: 2,
      note: 'a',
      made: 1,
    });
    expect(laterSetOver(schema, { id: 'k', n: 1, note: 'a' }, { id: 'k', note: null })).toEqual({
      id: 'k',
      n: 1,
      note: null,
    });
  });

  it('an insert-only column keeps its first value; no earlier row: the later row as given', () => {
    expect(laterSetOver(schema, { id: 'k', made: 1 }, { id: 'k', made: 2 })).toEqual({ id: 'k', made: 1 });
    const later = { id: 'k', n: 2 };
    expect(laterSetOver(schema, undefined, later)).toBe(later);
  });
});
