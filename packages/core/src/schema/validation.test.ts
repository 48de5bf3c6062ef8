import { integer, json, jsonb, pgTable, text, varchar } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../codec/json-data.js';
import { isStrataError } from '../errors.js';
import { defineSchema } from './define-schema.js';
import { MAX_JSON_BYTES } from './validation.js';

const table = pgTable('docs', {
  id: text('id').primaryKey(),
  title: varchar('title', { length: 200 }),
  n: integer('n'),
  doc: jsonb('doc'),
  plain: json('plain'),
  tags: text('tags').array(),
});
const schema = defineSchema({ table });

/** `levels` objects nested in each other: 1 is `{}`. */
function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < levels; i++) value = { a: value };
  return value;
}

async function refusal(row: Record<string, unknown>) {
  try {
    await schema.validate({ id: 'd1', ...row });
  } catch (err) {
    if (!isStrataError(err)) throw err;
    return { code: err.code, field: err.details?.field, message: err.message };
  }
  return undefined;
}

describe('row validation beyond drizzle-zod', () => {
  it('refuses a string with a lone surrogate in any string column, naming it', async () => {
    for (const bad of ['a\uD800', 'a\uDC00', '\uDBFF', 'x\uDC00\uD800y']) {
      expect(await refusal({ title: bad })).toMatchObject({ code: 'VALIDATION_FAILED', field: 'title' });
      expect(await refusal({ tags: ['ok', bad] })).toMatchObject({
        code: 'VALIDATION_FAILED',
        field: 'tags',
      });
      expect(await refusal({ doc: { [bad]: 1 } })).toMatchObject({ code: 'VALIDATION_FAILED', field: 'doc' });
      expect(await refusal({ plain: [bad] })).toMatchObject({ code: 'VALIDATION_FAILED', field: 'plain' });
    }
    expect(await refusal({ title: 'Zoë 🎉 日本', tags: ['🎉'], doc: { '🎉': '🎉' } })).toBeUndefined();
  });

  it('refuses a NUL (U+0000) in a text or text[] column, naming it; a json column keeps it', async () => {
    for (const bad of ['\u0000', 'a\u0000b', 'end\u0000']) {
      expect(await refusal({ title: bad })).toMatchObject({ code: 'VALIDATION_FAILED', field: 'title' });
      expect(await refusal({ id: bad })).toMatchObject({ code: 'VALIDATION_FAILED', field: 'id' });
      expect(await refusal({ tags: ['ok', bad] })).toMatchObject({
        code: 'VALIDATION_FAILED',
        field: 'tags',
      });
    }
    expect((await refusal({ title: 'a\u0000' }))?.message).toMatch(/NUL character .*22021/);
    // `json` stores an escaped NUL as it is.
    expect(await refusal({ plain: { s: 'a\u0000b', 'k\u0000': 1 } })).toBeUndefined();
  });

  it('refuses a NUL in a jsonb string or key (22P05): a write-behind set was acknowledged, then dead-lettered', async () => {
    for (const doc of [{ s: 'a\u0000b' }, ['x', ['\u0000']], { 'k\u0000': 1 }, '\u0000']) {
      const refused = await refusal({ doc });
      expect(refused).toMatchObject({ code: 'VALIDATION_FAILED', field: 'doc' });
      expect(refused?.message).toMatch(/jsonb cannot store a NUL .*22P05/);
    }
    // A backslash before `u0000` is text, not an escape: jsonb stores it.
    expect(await refusal({ doc: { s: '\\u0000', t: 'a\\\\u0000' } })).toBeUndefined();
  });

  it(`json: at most ${MAX_JSON_DEPTH} levels deep (issue 12, item 15), 5,000 levels without a RangeError`, async () => {
    expect(await refusal({ doc: nested(MAX_JSON_DEPTH) })).toBeUndefined();
    expect(await refusal({ doc: [nested(MAX_JSON_DEPTH - 1)] })).toBeUndefined();
    for (const levels of [MAX_JSON_DEPTH + 1, 5_000]) {
      const refused = await refusal({ doc: nested(levels) });
      expect(refused).toMatchObject({ code: 'VALIDATION_FAILED', field: 'doc' });
      expect(refused?.message).toMatch(/deeper than 100/);
    }
  });

  it('json: only JSON data that Postgres gives back unchanged', async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const bad: unknown[] = [
      cyclic,
      { n: Number.NaN },
      [1, undefined],
      { at: new Date(0) },
      { big: 1n },
      { f: () => 1 },
      Number.POSITIVE_INFINITY,
    ];
    for (const doc of bad) {
      expect(await refusal({ doc }), String(doc)).toMatchObject({ code: 'VALIDATION_FAILED', field: 'doc' });
    }
    const shared = { x: 1 };
    expect(await refusal({ doc: { a: shared, b: shared, skipped: undefined } })).toBeUndefined();
    expect(await refusal({ doc: 'just a string', plain: 3 })).toBeUndefined();
  });

  it(`json: at most ${MAX_JSON_BYTES} bytes of JSON text, counted as UTF-8`, async () => {
    // Two bytes of JSON text go to the quotes.
    expect(await refusal({ doc: 'x'.repeat(MAX_JSON_BYTES - 2) })).toBeUndefined();
    expect(await refusal({ doc: 'x'.repeat(MAX_JSON_BYTES - 1) })).toMatchObject({
      code: 'VALIDATION_FAILED',
      field: 'doc',
    });
    // 400,000 characters, 1.2 MB of UTF-8.
    expect(await refusal({ doc: { s: '€'.repeat(400_000) } })).toMatchObject({ field: 'doc' });
  });

  it('leaves other columns alone: zod errors come first, ordinary rows pass', async () => {
    expect(await refusal({ n: 'nine' })).toMatchObject({ code: 'VALIDATION_FAILED', field: 'n' });
    expect(await refusal({ title: 't', n: 1, doc: { a: [1, 'b', null, true] }, tags: null })).toBeUndefined();
  });
});
