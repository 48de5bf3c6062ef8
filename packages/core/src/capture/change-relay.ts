import { type Duration, toMs } from '../duration.js';
import { StrataError } from '../errors.js';
import { ChangeRelay, type ChangeRelayOptions } from './relay.js';

const MIN_INTERVAL_MS = 10;
/** The largest delay a timer takes (2^31 - 1 ms), in Node and in browsers alike. */
const MAX_TIMER_MS = 2_147_483_647;
const MIN_RETENTION_MS = 60_000;

function outOfRange(field: string, value: unknown, range: string): StrataError {
  return new StrataError('INVALID_CONFIG', `${field}: ${JSON.stringify(value)} is out of range: ${range}`, {
    details: { field, value },
  });
}

/** What the engine hands a relay: everything but its timing, which the plan holds. */
export type RelayParts = Omit<ChangeRelayOptions, 'intervalMs' | 'retentionMs'>;

/**
 * The change relay's plan, made by {@link changeRelay}: its timing, and how the engine builds it.
 * A value the app imports rather than a flag, so a Worker that does not relay does not bundle it.
 */
export interface RelayPlan {
  readonly intervalMs: number;
  readonly retentionMs: number;
  create(parts: RelayParts): ChangeRelay;
}

/**
 * Turns the change relay on (`capture.relay`): the instances of the app take turns (a lease in L2)
 * reading the change log at most every `interval` (default '1s') and apply what they read; the
 * holder also prunes entries older than `retention` (default '1d'; keep it above the longest the
 * app may go without a relay: a relay that finds its cursor pruned drops every cached row).
 * Throws INVALID_CONFIG for a duration that is not one, an interval outside 10 ms to 24.8 days, or
 * a retention under a minute or under the interval.
 * @example
 * import { changeRelay } from '@strata/core';
 * new Strata({ l2, l3, schemas, capture: { relay: changeRelay({ interval: '2s' }) } });
 */
export function changeRelay(options: { interval?: Duration; retention?: Duration } = {}): RelayPlan {
  const intervalMs = toMs(options.interval ?? '1s', 'capture.relay.interval');
  const retentionMs = toMs(options.retention ?? '1d', 'capture.relay.retention');
  // Below 10 ms an idle instance would read Postgres and Redis ~100 times a second; above the
  // largest timer delay, timers fire at once (Node turns the delay into 1 ms): a busy loop.
  if (intervalMs < MIN_INTERVAL_MS || intervalMs > MAX_TIMER_MS) {
    throw outOfRange(
      'capture.relay.interval',
      options.interval ?? `${intervalMs}ms`,
      `from ${MIN_INTERVAL_MS} ms to ${MAX_TIMER_MS} ms (24.8 days)`,
    );
  }
  // A log pruned sooner than the relay reads it is a gap at every read: every cached row dropped.
  if (retentionMs < Math.max(MIN_RETENTION_MS, intervalMs)) {
    throw outOfRange(
      'capture.relay.retention',
      options.retention ?? `${retentionMs}ms (the default)`,
      'at least 1 minute and at least the interval',
    );
  }
  return {
    intervalMs,
    retentionMs,
    create: (parts) => new ChangeRelay({ ...parts, intervalMs, retentionMs }),
  };
}
