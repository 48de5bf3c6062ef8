import { type Duration, toMs } from '../duration.js';
import { ChangeRelay, type ChangeRelayOptions } from './relay.js';

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
 * Throws INVALID_CONFIG for a duration that is not one.
 * @example
 * import { changeRelay } from '@strata/core';
 * new Strata({ l2, l3, schemas, capture: { relay: changeRelay({ interval: '2s' }) } });
 */
export function changeRelay(options: { interval?: Duration; retention?: Duration } = {}): RelayPlan {
  const intervalMs = toMs(options.interval ?? '1s', 'capture.relay.interval');
  const retentionMs = toMs(options.retention ?? '1d', 'capture.relay.retention');
  return {
    intervalMs,
    retentionMs,
    create: (parts) => new ChangeRelay({ ...parts, intervalMs, retentionMs }),
  };
}
