import { describe, expect, it } from 'vitest';
import { isStrataError } from '../errors.js';
import { getManyByMget } from './get-many.js';

describe('getManyByMget', () => {
  it('sends nothing for no keys', async () => {
    let calls = 0;
    const mget = async () => {
      calls += 1;
      return [];
    };
    expect(await getManyByMget('t', [], mget)).toEqual([]);
    expect(calls).toBe(0);
  });

  it('hands each key its value, null where the reply holds no string', async () => {
    const values = await getManyByMget('t', ['a', 'b', 'c'], async (keys) => {
      expect(keys).toEqual(['a', 'b', 'c']);
      return ['~1', null, 7];
    });
    expect(values).toEqual(['~1', null, null]);
  });

  it.each([
    ['a reply of another length', ['~1']],
    ['a reply that is no array', 'OK'],
  ])('refuses %s with L2_UNAVAILABLE naming the tier', async (_what, reply) => {
    const error = await getManyByMget('ioredis', ['a', 'b'], async () => reply).catch((e: unknown) => e);
    expect(isStrataError(error, 'L2_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toContain('L2 ioredis getMany');
  });
});
