import fc from 'fast-check';
import { KEYS, type Read, read, type Spec, spec, type Write, writes } from './search-model.js';

/** The commands of search-pending-model.test.ts; `by` and `other` are instances. */
export type Op =
  | { kind: 'write'; by: number; w: Write }
  | { kind: 'setMany'; by: number; keys: number[]; n: number; label: string }
  | { kind: 'deleteMany'; by: number; keys: number[] }
  | { kind: 'tx'; by: number; writes: Write[] }
  | { kind: 'flush'; by: number | 'all' }
  | { kind: 'invalidate'; by: number; key: number }
  | { kind: 'invalidateAll'; by: number }
  | { kind: 'read'; by: number; how: Read; q: Spec }
  /** Two instances write one key at once (the first in a transaction, or not): versions decide. */
  | { kind: 'race'; by: number; other: number; left: Write; right: Write; tx: boolean }
  /** A write on one instance while another flushes. */
  | { kind: 'writeDuringFlush'; by: number; other: number; w: Write }
  /** A read on one instance while another writes. */
  | { kind: 'readDuringWrite'; by: number; other: number; w: Write; how: Read; q: Spec }
  /** A read on one instance while another flushes. */
  | { kind: 'readDuringFlush'; by: number; other: number; how: Read; q: Spec };

/**
 * Commands over `instances` instances (at least 3: a race's winner is read by one that took no
 * part). Sets may leave a column out (partial rows), in transactions too; races write whole rows (a
 * race's candidates are whole rows).
 */
export function ops(instances: number): fc.Arbitrary<Op> {
  const by = fc.nat(instances - 1);
  const pair = fc
    .tuple(by, fc.integer({ min: 1, max: instances - 1 }))
    .map(([a, d]) => ({ by: a, other: (a + d) % instances }));
  const keys = fc.uniqueArray(fc.nat(KEYS - 1), { minLength: 1, maxLength: 3 });
  const write = writes(true);
  const sameKey = fc
    .nat(KEYS - 1)
    .chain((k) => fc.tuple(writes(false, fc.constant(k)), writes(false, fc.constant(k))));
  const withPair = <T extends object>(arbitrary: fc.Arbitrary<T>) =>
    arbitrary.chain((o) => pair.map((p) => ({ ...o, ...p })));
  const often = <T>(arbitrary: fc.Arbitrary<T>, weight = 3) => ({ arbitrary, weight });
  return fc.oneof(
    often(fc.record({ kind: fc.constant('write' as const), by, w: write }), 6),
    often(
      fc.record({
        kind: fc.constant('setMany' as const),
        by,
        keys,
        n: fc.nat(9),
        label: fc.constantFrom('a', 'b'),
      }),
    ),
    often(fc.record({ kind: fc.constant('deleteMany' as const), by, keys }), 1),
    often(
      fc.record({
        kind: fc.constant('tx' as const),
        by,
        writes: fc.array(write, { minLength: 1, maxLength: 3 }),
      }),
    ),
    often(
      fc.record({ kind: fc.constant('flush' as const), by: fc.oneof(by, fc.constant('all' as const)) }),
      2,
    ),
    often(fc.record({ kind: fc.constant('invalidate' as const), by, key: fc.nat(KEYS - 1) }), 1),
    often(fc.record({ kind: fc.constant('invalidateAll' as const), by }), 1),
    often(fc.record({ kind: fc.constant('read' as const), by, how: read, q: spec }), 8),
    often(
      withPair(
        fc
          .tuple(sameKey, fc.boolean())
          .map(([[left, right], tx]) => ({ kind: 'race' as const, left, right, tx })),
      ),
    ),
    often(withPair(fc.record({ kind: fc.constant('writeDuringFlush' as const), w: write })), 2),
    often(
      withPair(fc.record({ kind: fc.constant('readDuringWrite' as const), w: write, how: read, q: spec })),
    ),
    often(withPair(fc.record({ kind: fc.constant('readDuringFlush' as const), how: read, q: spec }))),
  );
}
