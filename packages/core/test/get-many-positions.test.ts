import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

// A batch's answer by position (read-cascade.ts `readRows`, `fromL2`): what any cut of its
// allocation must keep (docs/performance.md, issue 15's eighth pass). That pass answered a batch
// whose every position is its load's own with the load's rows, and had `readL2` write every row's
// answer into one reused object, copied where it is kept past the next value (a row to decrypt, a
// row whose tags' values are not known yet); it was measured, found within the noise and not kept.
// With those copies taken out, the encrypted batch decrypted the last row for every position,
// failed the others and read them from Postgres (`expected 1 to be 3` for its L2 hits), and the
// tagged batch checked t1 by t3's stamp and answered L2's refused copy
// (`expected [ 't1-old', 't2', 't3' ] to deeply equal [ 't1-new', 't2', 't3' ]`).
let stack: EngineStack;
const KEY = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

const encrypted = () =>
  defineSchema({ table: stack.tables.players, fields: { apiKey: { encrypted: true } } });
const tagged = () => defineSchema({ table: stack.tables.players, tags: (row) => [`level:${row.level}`] });
const plain = () => defineSchema({ table: stack.tables.players });

function strataFor(schema: ReturnType<typeof defineSchema>, prefix: string): Strata {
  return new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: `${stack.keyPrefix}${prefix}`,
    encryptionKey: KEY,
    schemas: [schema],
  });
}

beforeAll(async () => {
  stack = await engineStack('get_many_positions');
  await strataFor(plain(), 'm').migrate();
});
afterAll(() => stack?.cleanup());

describe('getMany answers every position its own row', () => {
  it('from L2 with an encrypted field: each decrypted row is its own position’s', async () => {
    const schema = encrypted();
    await strataFor(schema, 'enc').setMany(
      schema,
      [1, 2, 3].map((n) => ({ id: `e${n}`, username: `enc${n}`, apiKey: `key-e${n}` })),
    );
    // A fresh instance: an empty L1, so every row is an L2 hit.
    const fresh = strataFor(schema, 'enc');
    const rows = await fresh.getMany(schema, ['e1', 'e2', 'e3']);
    expect(rows.map((r) => r?.apiKey)).toEqual(['key-e1', 'key-e2', 'key-e3']);
    expect(fresh.stats().hits.l2).toBe(3);
    expect(fresh.stats().hits.l3).toBe(0);
  });

  it('from L2 with tags this instance does not know yet: each row is checked by its own stamp', async () => {
    const schema = tagged();
    const writer = strataFor(schema, 'tag');
    await writer.set(schema, { id: 't1', username: 't1-old', level: 1 });
    // Postgres changes t1 behind Strata's back and the app moves its tag: L2's copy of t1 is
    // stamped before the move, so no instance may answer it.
    await stack.db.execute(sql`update ${stack.tables.players} set username = 't1-new' where id = 't1'`);
    await writer.invalidateTags(['level:1']);
    // Written after the move: stamped after it, valid.
    await writer.setMany(schema, [
      { id: 't2', username: 't2', level: 2 },
      { id: 't3', username: 't3', level: 3 },
    ]);
    // A fresh instance knows no tag's value: every row waits for the tags' read, then is checked.
    const fresh = strataFor(schema, 'tag');
    const rows = await fresh.getMany(schema, ['t1', 't2', 't3']);
    expect(rows.map((r) => r?.username)).toEqual(['t1-new', 't2', 't3']);
    expect(fresh.stats().hits.l2).toBe(2);
    expect(fresh.stats().hits.l3).toBe(1);
  });

  it('a batch answered partly by L1, with copies and a missing row, keeps every position', async () => {
    const schema = plain();
    await strataFor(schema, 'mix').setMany(
      schema,
      [1, 2, 3].map((n) => ({ id: `m${n}`, username: `mix${n}` })),
    );
    const reader = strataFor(schema, 'mix');
    // m2 in the reader's L1: position 1 is the first not loaded, after one that is.
    expect((await reader.get(schema, 'm2')).username).toBe('mix2');
    const ids = ['m1', 'm2', 'm3', 'm1', 'nope', 'm3'];
    const rows = await reader.getMany(schema, ids);
    expect(rows.map((r) => r?.username ?? null)).toEqual(['mix1', 'mix2', 'mix3', 'mix1', null, 'mix3']);
    const stats = reader.stats();
    // m1, m3 from L2 once each (their copies not read again), nope from Postgres (absent).
    expect(stats.hits.l2).toBe(3);
    expect(stats.hits.l1).toBe(1);
    expect(stats.misses.l3).toBe(1);
    // A batch whose only copy is its last position: loaded once, copied.
    const again = strataFor(schema, 'mix');
    expect((await again.getMany(schema, ['m3', 'm1', 'm3'])).map((r) => r?.username)).toEqual([
      'mix3',
      'mix1',
      'mix3',
    ]);
    expect(again.stats().hits.l2).toBe(2);
  });

  it('two batches at once, the second joining the first’s load for some keys, answer in order', async () => {
    const schema = plain();
    await strataFor(schema, 'join').setMany(
      schema,
      [1, 2, 3].map((n) => ({ id: `j${n}`, username: `join${n}` })),
    );
    const reader = strataFor(schema, 'join');
    const [first, second] = await Promise.all([
      reader.getMany(schema, ['j1', 'j2']),
      reader.getMany(schema, ['j3', 'j2', 'j1']),
    ]);
    expect(first.map((r) => r?.username)).toEqual(['join1', 'join2']);
    expect(second.map((r) => r?.username)).toEqual(['join3', 'join2', 'join1']);
    // Each key read from L2 once: j1 and j2 joined, or L1 answered them.
    expect(reader.stats().hits.l2).toBe(3);
  });
});
