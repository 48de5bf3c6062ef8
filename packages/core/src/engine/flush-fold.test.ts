import { describe, expect, it } from 'vitest';
import type { Row } from '../l3/types.js';
import { folded, type Item, refusedRow } from './flush-fold.js';
import type { SchemaCache } from './schema-cache.js';

// Pure logic: only what `folded` reads of a schema's cache (its identity and insert-only keys).
const cache = { schema: { identity: 'app.items', insertOnlyKeys: ['made'] } } as unknown as SchemaCache;
const item = (version: number, row?: Row, defaults?: string[]): Item => ({
  delivery: {
    handle: `h${version}`,
    attempts: 0,
    write: { schema: 'app.items', id: 'k', op: 'set', version },
  },
  cache,
  key: 'k',
  id: 'k',
  ...(row && { row }),
  ...(defaults && { defaults }),
});

describe('folded: defaults for a new row', () => {
  it('a default fills only a column no write before it gave, and stays a default until a write sends the column', () => {
    const [one] = folded([
      item(1, { id: 'k', b: 'x', d: 'fn1', e: 'lit' }, ['d', 'e']),
      item(2, { id: 'k', c: 3, d: 'fn2' }, ['d']),
      item(3, { id: 'k', e: 'sent' }),
    ]);
    expect(one?.row).toEqual({ id: 'k', b: 'x', c: 3, d: 'fn1', e: 'sent' });
    expect(one?.defaults).toEqual(['d']);
  });

  it('over a column an earlier write sent, a later default is dropped', () => {
    const [one] = folded([item(1, { id: 'k', d: 'sent' }), item(2, { id: 'k', d: 'fn' }, ['d'])]);
    expect(one?.row).toEqual({ id: 'k', d: 'sent' });
    expect(one?.defaults).toBeUndefined();
  });

  it('after a delete the sets replace the row: every column applies, none is a default', () => {
    const [one] = folded([item(1), item(2, { id: 'k', d: 'fn' }, ['d'])]);
    expect(one).toMatchObject({ row: { id: 'k', d: 'fn' }, replace: true });
    expect(one?.defaults).toBeUndefined();
  });

  it("a refused set's merge leaves its defaults out", () => {
    expect(refusedRow(item(1, { id: 'k', b: 'x', d: 'fn' }, ['d']))).toEqual({ id: 'k', b: 'x' });
    const whole = item(1, { id: 'k', b: 'x' });
    expect(refusedRow(whole)).toBe(whole.row);
  });
});

describe('folded: the version each column was set at', () => {
  it("names the columns an older write set last, at its version (the insert-only one at its first write's)", () => {
    const [one] = folded([
      item(1, { id: 'k', a: 1, b: 'b1', made: 'm1' }),
      item(2, { id: 'k', b: 'b2', made: 'm2' }),
      item(3, { id: 'k', a: 7 }),
    ]);
    expect(one?.row).toEqual({ id: 'k', a: 7, b: 'b2', made: 'm1' });
    expect(one?.setAt).toEqual({ b: 2, made: 1 });
  });

  it("after a delete: '' is the delete's version, the columns set before it are gone", () => {
    const [one] = folded([item(1, { id: 'k', a: 1, b: 'b1' }), item(2), item(3, { id: 'k', a: 7 })]);
    expect(one).toMatchObject({ row: { id: 'k', a: 7 }, replace: true, setAt: { '': 2 } });
  });

  it('none when every column was set by the newest write', () => {
    const [one] = folded([item(1, { id: 'k', a: 1 }), item(2, { id: 'k', a: 2 })]);
    expect(one?.setAt).toBeUndefined();
  });
});
