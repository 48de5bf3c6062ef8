import type { L3Tier, WriteOp } from '../l3/types.js';
import { withTimeout } from '../resilience/with-timeout.js';
import type { CompiledSchema } from '../schema/types.js';
import { type OnReadRetry, RETRIED_READS, retryLostRead } from './read-retry.js';

/** The L3 calls with a deadline: every data call, where the tier has it. */
const TIMED = [
  'identity',
  'claimWriter',
  'markCounters',
  'counterMarks',
  'withdraw',
  'withdrawnAmong',
  'withdrawalsSent',
  ...RETRIED_READS,
  'nextEpoch',
  'replaceValues',
  'migrationStatus',
] as const satisfies readonly (keyof L3Tier)[];
const RETRIED: ReadonlySet<string> = new Set(RETRIED_READS);

/**
 * Every L3 data call with a deadline (`timeouts.l3`). Migrations are left without one (DDL on a big
 * table may rightly take longer than any request), and transactions set their own. With `app` (the
 * keyPrefix), each write names its app (`WriteOp.app`): change capture tells other apps of it.
 * With `onRetry`, the idempotent reads (`RETRIED_READS`) whose connection was lost are sent once
 * more inside the same deadline (see read-retry.ts), here so that every L3 implementation has it.
 */
export function timedL3(tier: L3Tier, timeoutMs: number, app?: string, onRetry?: OnReadRetry): L3Tier {
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
    const call = (args: unknown[]) =>
      (tier[op] as (...args: unknown[]) => Promise<unknown>).apply(tier, args);
    timed[op] = (...args: unknown[]) =>
      withTimeout(
        onRetry && RETRIED.has(op)
          ? retryLostRead(
              () => call(args),
              performance.now() + timeoutMs,
              (err) => onRetry(op, args[0] as CompiledSchema, err),
            )
          : call(args),
        timeoutMs,
        `L3 ${op} (${tier.name})`,
      );
  }
  return untimed as L3Tier;
}

function withApp(ops: readonly WriteOp[], app: string): WriteOp[] {
  return ops.map((op) => (op.app === undefined ? { ...op, app } : op));
}
