import { type Clock, systemClock } from '../clock.js';
import { StrataError } from '../errors.js';
import type { EvictionOrder } from './eviction-order.js';
import { LfuOrder } from './lfu-order.js';
import { SieveOrder } from './sieve-order.js';
import { SlotListOrder } from './slot-list-order.js';
import { systemTickClock } from './tick-clock.js';
import type { EvictionPolicy, MemoryL1Options } from './types.js';

const POLICIES: Readonly<Record<EvictionPolicy, (capacity: number) => EvictionOrder>> = {
  sieve: (capacity) => new SieveOrder(capacity),
  lru: (capacity) => new SlotListOrder({ moveOnAccess: true }, capacity),
  lfu: () => new LfuOrder(),
  fifo: (capacity) => new SlotListOrder({ moveOnAccess: false }, capacity),
};

/** The policy of an L1 that names none. */
export const DEFAULT_EVICTION: EvictionPolicy = 'sieve';

interface ResolvedL1Options<V> {
  readonly maxEntries: number;
  readonly defaultTtlMs: number;
  /** Makes the eviction order, with room for `capacity` slots to start with. */
  readonly makeOrder: (capacity: number) => EvictionOrder;
  readonly clock: Clock;
  readonly onEvict: MemoryL1Options<V>['onEvict'];
  readonly onHookError: MemoryL1Options<V>['onHookError'];
}

/** Validates {@link MemoryL1Options} (throwing `INVALID_CONFIG`) and fills in the defaults. */
export function resolveL1Options<V>(options: MemoryL1Options<V>): ResolvedL1Options<V> {
  const policy = options.eviction ?? DEFAULT_EVICTION;
  // hasOwn: 'toString' and friends are not policies.
  const makeOrder = Object.hasOwn(POLICIES, policy) ? POLICIES[policy] : undefined;
  if (makeOrder === undefined) {
    throw new StrataError('INVALID_CONFIG', `unknown L1 eviction policy ${JSON.stringify(policy)}`, {
      details: { field: 'eviction', value: policy },
    });
  }
  return {
    maxEntries: checkNonNegativeInteger(options.maxEntries ?? 0, 'maxEntries'),
    defaultTtlMs: checkNonNegativeMs(options.defaultTtlMs ?? 0, 'defaultTtlMs'),
    makeOrder,
    // The real clock is read once per synchronous run, not once per hit (see tickClock).
    clock: options.clock === undefined || options.clock === systemClock ? systemTickClock : options.clock,
    onEvict: options.onEvict,
    onHookError: options.onHookError,
  };
}

/** `n` if it is a whole number >= 0, else `INVALID_CONFIG` naming `field`. */
export function checkNonNegativeInteger(n: number, field: string): number {
  if (isNonNegative(n) && Number.isInteger(n)) return n;
  throw notNonNegative(n, field, 'a non-negative integer');
}

/** `n` if it is a finite number of ms >= 0, else `INVALID_CONFIG` naming `field`. */
export function checkNonNegativeMs(n: number, field: string): number {
  if (isNonNegative(n)) return n;
  throw notNonNegative(n, field, 'a non-negative finite number of ms');
}

function isNonNegative(n: number): boolean {
  return typeof n === 'number' && Number.isFinite(n) && n >= 0;
}

function notNonNegative(n: number, field: string, want: string): StrataError {
  return new StrataError('INVALID_CONFIG', `L1 ${field} must be ${want}, got ${String(n)}`, {
    details: { field, value: n },
  });
}
