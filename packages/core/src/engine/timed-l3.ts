import type { L3Tier, WriteOp } from '../l3/types.js';
import { withTimeout } from '../resilience/with-timeout.js';

/**
 * Every L3 data call with a deadline (`timeouts.l3`). Migrations are left without one (DDL on a big
 * table may rightly take longer than any request), and transactions set their own. With `app` (the
 * keyPrefix), each write names its app (`WriteOp.app`): change capture tells other apps of it.
 */
export function timedL3(tier: L3Tier, timeoutMs: number, app?: string): L3Tier {
  const within = <T>(work: Promise<T>, op: string) => withTimeout(work, timeoutMs, `L3 ${op} (${tier.name})`);
  const { identity, capture, claimWriter, markCounters, counterMarks } = tier;
  return {
    ...(identity && { identity: () => within(identity.call(tier), 'identity') }),
    ...(claimWriter && {
      claimWriter: (schema, owner, exclusive, seeded) =>
        within(claimWriter.call(tier, schema, owner, exclusive, seeded), 'claimWriter'),
    }),
    ...(markCounters && { markCounters: (marks) => within(markCounters.call(tier, marks), 'markCounters') }),
    ...(counterMarks && {
      counterMarks: (schema, counters) => within(counterMarks.call(tier, schema, counters), 'counterMarks'),
    }),
    // Capture is admin DDL and a log reader with its own pace: passed on as it is.
    ...(capture && { capture }),
    name: tier.name,
    findMany: (schema, ids) => within(tier.findMany(schema, ids), 'findMany'),
    exists: (schema, id) => within(tier.exists(schema, id), 'exists'),
    scan: (schema, options) => within(tier.scan(schema, options), 'scan'),
    search: (schema, query) => within(tier.search(schema, query), 'search'),
    count: (schema, where, pending) => within(tier.count(schema, where, pending), 'count'),
    // Writes carry their own deadline: `timeouts.l3`, or a transaction's (commit's timeout -> TX_TIMEOUT).
    write: app === undefined ? (ops) => tier.write(ops) : (ops) => tier.write(withApp(ops, app)),
    nextEpoch: (schema) => within(tier.nextEpoch(schema), 'nextEpoch'),
    replaceValues: (schema, changes) => within(tier.replaceValues(schema, changes), 'replaceValues'),
    migrate: (schemas) => tier.migrate(schemas),
    migrationStatus: () => within(tier.migrationStatus(), 'migrationStatus'),
  };
}

function withApp(ops: readonly WriteOp[], app: string): WriteOp[] {
  return ops.map((op) => (op.app === undefined ? { ...op, app } : op));
}
