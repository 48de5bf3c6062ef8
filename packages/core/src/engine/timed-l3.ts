import type { L3Tier, WriteOp } from '../l3/types.js';
import { withTimeout } from '../resilience/with-timeout.js';

/** The L3 calls with a deadline: every data call, where the tier has it. */
const TIMED = [
  'identity',
  'claimWriter',
  'markCounters',
  'counterMarks',
  'findMany',
  'exists',
  'scan',
  'search',
  'count',
  'nextEpoch',
  'replaceValues',
  'migrationStatus',
] as const satisfies readonly (keyof L3Tier)[];

/**
 * Every L3 data call with a deadline (`timeouts.l3`). Migrations are left without one (DDL on a big
 * table may rightly take longer than any request), and transactions set their own. With `app` (the
 * keyPrefix), each write names its app (`WriteOp.app`): change capture tells other apps of it.
 */
export function timedL3(tier: L3Tier, timeoutMs: number, app?: string): L3Tier {
  const untimed: Pick<L3Tier, 'capture' | 'name' | 'write' | 'mergeRefused' | 'migrate'> = {
    // Capture is admin DDL and a log reader with its own pace: passed on as it is.
    ...(tier.capture && { capture: tier.capture }),
    name: tier.name,
    // Writes carry their own deadline: `timeouts.l3`, or a transaction's (commit's timeout -> TX_TIMEOUT).
    write: app === undefined ? (ops) => tier.write(ops) : (ops) => tier.write(withApp(ops, app)),
    migrate: (schemas) => tier.migrate(schemas),
  };
  const merge = tier.mergeRefused?.bind(tier);
  if (merge) untimed.mergeRefused = app === undefined ? merge : (ops) => merge(withApp(ops, app));
  // The timed calls added below, one wrapper each (what the tier has of them).
  const timed: Record<string, unknown> = untimed;
  for (const op of TIMED) {
    if (!tier[op]) continue;
    timed[op] = (...args: unknown[]) =>
      withTimeout(
        (tier[op] as (...args: unknown[]) => Promise<unknown>).apply(tier, args),
        timeoutMs,
        `L3 ${op} (${tier.name})`,
      );
  }
  return untimed as L3Tier;
}

function withApp(ops: readonly WriteOp[], app: string): WriteOp[] {
  return ops.map((op) => (op.app === undefined ? { ...op, app } : op));
}
