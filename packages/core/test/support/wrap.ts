import type { L3Tier } from '../../src/l3/types.js';
import { deferred } from './deferred.js';

/**
 * The real L3 with some methods replaced, e.g. to hold a call at a chosen point and force an
 * interleaving. Every other call goes to the real tier.
 */
export function wrapL3(base: L3Tier, overrides: Partial<L3Tier>): L3Tier {
  return {
    name: base.name,
    findMany: overrides.findMany ?? ((s, ids) => base.findMany(s, ids)),
    exists: overrides.exists ?? ((s, id) => base.exists(s, id)),
    scan: overrides.scan ?? ((s, o) => base.scan(s, o)),
    search: overrides.search ?? ((s, q) => base.search(s, q)),
    count: overrides.count ?? ((s, w) => base.count(s, w)),
    write: overrides.write ?? ((ops) => base.write(ops)),
    nextEpoch: overrides.nextEpoch ?? ((s) => base.nextEpoch(s)),
    replaceValues: overrides.replaceValues ?? ((s, c) => base.replaceValues(s, c)),
    migrate: overrides.migrate ?? ((s) => base.migrate(s)),
    migrationStatus: overrides.migrationStatus ?? (() => base.migrationStatus()),
    ...((overrides.claimWriter ?? base.claimWriter) && {
      claimWriter: overrides.claimWriter ?? ((s, o, e, seeded) => base.claimWriter!(s, o, e, seeded)),
    }),
    ...((overrides.markCounters ?? base.markCounters) && {
      markCounters: overrides.markCounters ?? ((marks) => base.markCounters!(marks)),
    }),
    ...((overrides.counterMarks ?? base.counterMarks) && {
      counterMarks: overrides.counterMarks ?? ((s, c) => base.counterMarks!(s, c)),
    }),
  };
}

/** A promise with its resolver, for gates and signals in tests. */
export function signal(): { promise: Promise<void>; resolve: () => void } {
  return deferred<void>();
}
