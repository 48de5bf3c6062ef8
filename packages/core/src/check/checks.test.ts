import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import * as check from './checks.js';

// The checks stand in for zod (issue 13: zod was a fifth of a Worker's bundle), so each one is held
// to the zod schema it replaces: the same first issue (path, message, unknown keys) on every input.
const inputs: unknown[] = [
  undefined,
  null,
  0,
  -1,
  1,
  1.5,
  -1.5,
  2 ** 53,
  -(2 ** 53),
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  '',
  'a',
  'ab',
  'abcd',
  '123e4567-e89b-12d3-a456-426614174000',
  true,
  1n,
  11n,
  -1n,
  new Date(0),
  new Date(Number.NaN),
  [],
  [1],
  [1, 2],
  [1, 'x'],
  [1, 2, 3],
  {},
  { a: 1 },
  { a: 'x' },
  { a: 1, b: 'b' },
  { a: 1, b: 2 },
  { a: 1, z: 1, y: 2 },
  { a: 'x', z: 1 },
  { op: 'set', row: 'r' },
  { op: 'set' },
  { op: 'delete', row: 'r' },
  { op: 'other' },
  { op: 1 },
  Object.create(null),
  new Map(),
  new (class Point {})(),
  () => 1,
  Symbol('s'),
];

type Zod = { safeParse(value: unknown): { success: boolean; error?: { issues: ZodIssue[] } } };
type ZodIssue = { path: PropertyKey[]; message: string; code: string; keys?: string[] };

const pairs: [string, check.Check, Zod][] = [
  ['string', check.string(), z.string()],
  ['string lengths', check.string(check.minLength(1), check.maxLength(3)), z.string().min(1).max(3)],
  ['exact length', check.string(check.length(2)), z.string().length(2)],
  ['pattern', check.string(check.pattern(/^a+$/)), z.string().regex(/^a+$/)],
  ['uuid', check.string(check.uuid), z.uuid()],
  ['number', check.number(), z.number()],
  ['int ≥ 0', check.number(check.int, check.gte(0)), z.number().int().nonnegative()],
  ['int > 0', check.number(check.int, check.gt(0)), z.number().int().positive()],
  ['z.int() in bounds', check.number(check.int, check.gte(-1), check.lte(1)), z.int().gte(-1).lte(1)],
  ['number in bounds', check.number(check.gte(-1), check.lte(1)), z.number().gte(-1).lte(1)],
  ['bigint in bounds', check.bigint(check.gte(0n), check.lte(10n)), z.bigint().gte(0n).lte(10n)],
  ['boolean', check.boolean(), z.boolean()],
  ['date', check.date(), z.date()],
  ['enum', check.oneOf(['a', 'ab']), z.enum(['a', 'ab'])],
  ['literal', check.oneOf(['a']), z.literal('a')],
  ['optional', check.optional(check.string()), z.string().optional()],
  ['nullable', check.nullable(check.number()), z.number().nullable()],
  ['absent field', check.optional(check.never), z.never().optional()],
  ['undefined', check.optional(check.absent), z.undefined().optional()],
  ['array', check.array(check.number(), check.maxLength(2)), z.array(z.number()).max(2)],
  ['array length', check.array(check.number(), check.length(2)), z.array(z.number()).length(2)],
  ['tuple', check.tuple([check.number(), check.number()]), z.tuple([z.number(), z.number()])],
  ['union', check.anyOf(check.number(), check.string()), z.union([z.number(), z.string()])],
  [
    'custom',
    check.custom((v) => typeof v === 'function', 'must be a function'),
    z.custom((v) => typeof v === 'function', { message: 'must be a function' }),
  ],
  [
    'refine',
    check.refine<string>(check.string(), (s) => s.length > 1, 'short'),
    z.string().refine((s) => s.length > 1, { message: 'short' }),
  ],
  [
    'object',
    check.object({ a: check.number(), b: check.optional(check.string()) }),
    z.object({ a: z.number(), b: z.string().optional() }),
  ],
  [
    'strict object',
    check.strictObject({ a: check.number(), b: check.optional(check.string()) }),
    z.strictObject({ a: z.number(), b: z.string().optional() }),
  ],
  [
    'nested strict object',
    check.strictObject({ a: check.optional(check.strictObject({ b: check.string() })) }),
    z.strictObject({ a: z.strictObject({ b: z.string() }).optional() }),
  ],
  [
    'discriminated union',
    check.discriminated('op', {
      set: check.object({ op: check.oneOf(['set']), row: check.string() }),
      delete: check.object({ op: check.oneOf(['delete']), row: check.optional(check.absent) }),
    }),
    z.discriminatedUnion('op', [
      z.object({ op: z.literal('set'), row: z.string() }),
      z.object({ op: z.literal('delete'), row: z.undefined().optional() }),
    ]),
  ],
];

function zodIssue(schema: Zod, value: unknown): check.Issue | undefined {
  const result = schema.safeParse(value);
  if (result.success) return undefined;
  const { path, message, code, keys } = result.error!.issues[0]!;
  return { path: path as (string | number)[], message, ...(code === 'unrecognized_keys' && { keys }) };
}

describe('checks give the first issue zod gives, worded as zod words it', () => {
  for (const [name, ours, theirs] of pairs) {
    it(name, () => {
      let passed = 0;
      for (const [i, value] of inputs.entries()) {
        const expected = zodIssue(theirs, value);
        if (!expected) passed++;
        expect(ours(value, []), `input ${i}`).toEqual(expected);
      }
      // Each pair is seen both to refuse and (but for never-satisfied shapes) to accept.
      expect(passed).toBeLessThan(inputs.length);
    });
  }

  it('puts the path of the checked value in front', () => {
    expect(check.number()('x', ['l1', 'maxEntries'])).toEqual({
      path: ['l1', 'maxEntries'],
      message: 'Invalid input: expected number, received string',
    });
  });
});
