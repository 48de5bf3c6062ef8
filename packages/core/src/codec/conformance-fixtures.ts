import { expect } from 'vitest';
import { isStrataError, type StrataErrorCode } from '../errors.js';
import type { ColumnKinds } from './types.js';

// Shared by the codec conformance suites: one row shape exercising every column kind.

export const KINDS: ColumnKinds = {
  id: 'bigint',
  name: 'plain',
  createdAt: 'date',
  avatar: 'bytes',
  meta: 'json',
  score: 'plain',
  active: 'plain',
};

export const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);

export function fullRow(): Record<string, unknown> {
  return {
    id: 9_223_372_036_854_775_807n,
    name: 'Zoë 🎉 日本\u0000end',
    createdAt: new Date('2024-02-29T23:59:59.123Z'),
    avatar: ALL_BYTES.slice(),
    meta: {
      // ISO-looking strings inside jsonb are data: they must stay strings.
      seenAt: '2024-01-01T00:00:00.000Z',
      history: [{ at: '1999-12-31T23:59:59.999Z', n: 1 }, null, true, 1.5, ''],
      nested: { deep: { empty: {}, list: [] } },
      'ключ 🔑': 'значение',
    },
    score: Number.MAX_SAFE_INTEGER,
    active: false,
  };
}

/** Throws unless `fn` throws a StrataError with `code`; returns it for further checks. */
export function expectStrataError(fn: () => unknown, code: StrataErrorCode) {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(isStrataError(caught, code), `expected StrataError ${code}, got ${String(caught)}`).toBe(true);
  if (!isStrataError(caught, code)) throw new Error('unreachable');
  expect(caught.cause).toBeDefined();
  return caught;
}

export function deep(levels: number): unknown {
  let value: unknown = 'bottom';
  for (let i = 0; i < levels; i++) value = [value];
  return value;
}

export function bytesToBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}
