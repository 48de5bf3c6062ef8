export { type Clock, type ManualClock, manualClock, systemClock } from './clock.js';
export { type Duration, type DurationUnit, toMs } from './duration.js';
export {
  isStrataError,
  STRATA_ERROR_CODES,
  StrataError,
  type StrataErrorCode,
  type StrataErrorOptions,
} from './errors.js';
export { deepFreeze } from './l1/freeze.js';
export { createMemoryL1, MemoryL1 } from './l1/memory-l1.js';
export type {
  EvictionPolicy,
  EvictReason,
  L1Entry,
  L1Stats,
  L1Tier,
  MemoryL1Options,
} from './l1/types.js';
