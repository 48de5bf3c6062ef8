import { bigint, integer, pgTable, serial, smallint, text, uuid, varchar } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { isStrataError } from '../errors.js';
import { defineSchema } from '../schema/define-schema.js';
import type { CompiledSchema } from '../schema/types.js';
import { idKey, MAX_ID_BYTES, normalizeId } from './ids.js';

const schemaOf = (id: unknown) =>
  defineSchema({
    table: pgTable('t', { id: (id as ReturnType<typeof text>).primaryKey() }),
  }) as CompiledSchema;
const textKey = schemaOf(text('id'));
const varcharKey = schemaOf(varchar('id', { length: 10 }));
const uuidKey = schemaOf(uuid('id'));
const smallKey = schemaOf(smallint('id'));
const intKey = schemaOf(integer('id'));
const serialKey = schemaOf(serial('id'));
const big53Key = schemaOf(bigint('id', { mode: 'number' }));
const big64Key = schemaOf(bigint('id', { mode: 'bigint' }));

function refusal(schema: CompiledSchema, id: unknown) {
  try {
    normalizeId(schema, id);
  } catch (err) {
    if (!isStrataError(err, 'MISSING_PRIMARY_KEY')) throw err;
    return { details: err.details, message: err.message };
  }
  throw new Error(`accepted ${String(id)}`);
}

describe('normalizeId', () => {
  it('string keys: well-formed Unicode (issue 12, item 14), at most MAX_ID_BYTES of UTF-8', () => {
    for (const id of [
      'p1',
      'Zoë 🎉 日本',
      'x'.repeat(MAX_ID_BYTES),
      'é'.repeat(MAX_ID_BYTES / 2),
      '🎉'.repeat(128),
    ]) {
      expect(normalizeId(textKey, id)).toBe(id);
    }
    expect(normalizeId(textKey, 42)).toBe('42');
    expect(normalizeId(varcharKey, 'abc')).toBe('abc');
    for (const id of ['a\uD800', 'a\uDC00', '\uD800'.repeat(200), `${'x'.repeat(300)}\uDFFF`]) {
      const refused = refusal(textKey, id);
      expect(refused.details).toEqual({ schema: 't', field: 'id' });
      expect(refused.message).toMatch(/lone surrogate/);
    }
    for (const id of ['x'.repeat(MAX_ID_BYTES + 1), 'é'.repeat(MAX_ID_BYTES / 2 + 1), '🎉'.repeat(129)]) {
      expect(refusal(textKey, id).message).toMatch(/longer than 512 bytes/);
    }
    for (const id of ['', null, undefined, {}, [], Symbol('s')]) refusal(textKey, id);
    // A failed parse, not a key: it would write and read a row 'NaN' (probe-hostile-7).
    for (const id of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(refusal(textKey, id).message).toMatch(/must be a string or a finite number/);
    }
    expect(normalizeId(textKey, 1.5)).toBe('1.5');
    expect(normalizeId(textKey, 7n)).toBe('7');
    expect(refusal(textKey, '').message).toMatch(/is missing/);
  });

  it('uuid keys: a UUID in any case, lowercased as Postgres prints it', () => {
    const id = '8f14e45f-ceea-467f-a0e6-1b2f1a8a5c01';
    expect(normalizeId(uuidKey, id)).toBe(id);
    expect(normalizeId(uuidKey, id.toUpperCase())).toBe(id);
    for (const bad of ['8f14e45fceea467fa0e61b2f1a8a5c01', `{${id}}`, `${id} `, 'g'.repeat(36), 42, '']) {
      refusal(uuidKey, bad);
    }
  });

  it('integer keys (issue 12, item 18): an integer in the column range, never 1.5 or "1.5"', () => {
    expect(normalizeId(intKey, 42)).toBe(42);
    expect(normalizeId(intKey, '42')).toBe(42);
    expect(normalizeId(intKey, '-7')).toBe(-7);
    expect(normalizeId(intKey, '007')).toBe(7);
    expect(normalizeId(intKey, 5n)).toBe(5);
    expect(normalizeId(serialKey, 2 ** 31 - 1)).toBe(2 ** 31 - 1);
    expect(normalizeId(big53Key, Number.MAX_SAFE_INTEGER)).toBe(Number.MAX_SAFE_INTEGER);
    for (const bad of [
      1.5,
      '1.5',
      '1e3',
      ' 1',
      '+1',
      '0x10',
      '4x',
      Number.NaN,
      Number.POSITIVE_INFINITY,
      '',
      {},
    ]) {
      const refused = refusal(intKey, bad);
      expect(refused.details).toEqual({ schema: 't', field: 'id' });
    }
    expect(refusal(intKey, '1.5').message).toMatch(/must be an integer/);
    expect(refusal(intKey, 2 ** 31).message).toMatch(/from -2147483648 to 2147483647/);
    refusal(intKey, String(2 ** 31));
    refusal(intKey, 2n ** 31n);
    refusal(smallKey, 32_768);
    refusal(big53Key, '9007199254740993');
    refusal(big53Key, 2 ** 53);
  });

  it('bigint keys: a bigint, a safe integer or a digit string within int8', () => {
    expect(normalizeId(big64Key, '9223372036854775807')).toBe(9_223_372_036_854_775_807n);
    expect(normalizeId(big64Key, 42)).toBe(42n);
    expect(normalizeId(big64Key, -3n)).toBe(-3n);
    for (const bad of ['9223372036854775808', 2n ** 63n, '1.5', 1.5, '']) refusal(big64Key, bad);
  });

  it('the cache key is the text Postgres prints for the key', () => {
    expect(idKey(normalizeId(intKey, '-0'))).toBe('0');
    expect(idKey(normalizeId(intKey, '0042'))).toBe('42');
    expect(idKey(normalizeId(big64Key, '-0042'))).toBe('-42');
  });
});
