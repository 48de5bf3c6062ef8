import { describe, expect, it } from 'vitest';
import { checkTags } from './tags.js';

describe('checkTags', () => {
  it('sorts and dedupes an array of tags', () => {
    expect(checkTags(['b', 'a', 'b'])).toEqual(['a', 'b']);
  });

  it('refuses a string (it would pass as its characters), a Set and other non-arrays: INVALID_QUERY', () => {
    for (const tags of ['league:7', new Set(['league:7']), { 0: 'a', length: 1 }, undefined, null]) {
      expect(() => checkTags(tags as never), String(tags)).toThrow(
        expect.objectContaining({
          code: 'INVALID_QUERY',
          details: expect.objectContaining({ field: 'tags' }),
        }),
      );
    }
  });
});
