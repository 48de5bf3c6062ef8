import type { QueuedWrite } from '../src/queue/types.js';

/** A plain `set` write numbered `i`: id `w<i>`, version `i + 1`. */
function sampleWrite(i: number, schema = 'conformance'): QueuedWrite {
  return { schema, id: `w${i}`, op: 'set', row: JSON.stringify({ id: `w${i}`, n: i }), version: i + 1 };
}

/** `count` sample writes, numbered from `from`. */
export function sampleWrites(count: number, from = 0): QueuedWrite[] {
  return Array.from({ length: count }, (_, i) => sampleWrite(from + i));
}

const UNICODE =
  'héllo wörld — 你好 — مرحبا — 🚀👩‍👩‍👧 — "quotes" \\ back\\slash\n\ttab \u0000nul \u2028\u2029';

/** Just over 100 KB of mixed-width text. */
function bigRow(): string {
  const chunk = `${UNICODE} ${'x'.repeat(50)} `;
  return JSON.stringify({ blob: chunk.repeat(Math.ceil((100 * 1024) / chunk.length)) });
}

/** Writes that break naive encodings: unicode everywhere, a 100 KB row, an empty row, a delete, extreme versions. */
export const TRICKY_WRITES: readonly QueuedWrite[] = [
  { schema: 'players', id: 'p1', op: 'set', row: JSON.stringify({ name: UNICODE }), version: 1 },
  { schema: 'ünïcode schema', id: 'a:b c/ü 🚀', op: 'set', row: UNICODE, version: 2 },
  { schema: 'players', id: 'lone', op: 'set', row: 'lone surrogate \ud800 kept', version: 3 },
  { schema: 'players', id: 'big', op: 'set', row: bigRow(), version: 4 },
  { schema: 'players', id: 'empty', op: 'set', row: '', version: 0 },
  { schema: 'players', id: 'gone', op: 'delete', version: Number.MAX_SAFE_INTEGER },
];

/** Values `enqueue` must refuse (VALIDATION_FAILED), each with what is wrong with it. */
export const INVALID_WRITES: readonly [string, unknown][] = [
  ['an unknown op', { schema: 's', id: '1', op: 'upsert', row: '{}', version: 1 }],
  ['a set without its row', { schema: 's', id: '1', op: 'set', version: 1 }],
  ['a fractional version', { schema: 's', id: '1', op: 'delete', version: 1.5 }],
  ['a negative version', { schema: 's', id: '1', op: 'delete', version: -1 }],
  ['a version that is not a number', { schema: 's', id: '1', op: 'delete', version: '1' }],
  ['no schema', { id: '1', op: 'delete', version: 1 }],
  ['an empty id', { schema: 's', id: '', op: 'delete', version: 1 }],
  ['a row that is not a string', { schema: 's', id: '1', op: 'set', row: { a: 1 }, version: 1 }],
  ['null', null],
];
