// `@strata/core/driver`: what an implementation of a seam needs (an L2, an L3, an invalidation bus,
// a write queue, a codec): the seam types, the wire formats it must read and write, and the helpers
// the adapters share (timeouts, the circuit breaker, queue errors, migration records). Apps need
// none of it: their names are in `@strata/core`. The conformance suites are `@strata/core/testing`.

export { invalidationChannel } from './bus/channel.js';
export { BusDelivery } from './bus/delivery.js';
export { encodeInvalidation } from './bus/message.js';
export type {
  BusHandlers,
  BusStats,
  Invalidation,
  InvalidationBus,
  ScriptedBus,
  ScriptedPublish,
} from './bus/types.js';
export type { RelayParts, RelayPlan } from './capture/change-relay.js';
export type { RelayStatsSnapshot } from './capture/relay-stats.js';
export {
  CAPTURE_NOT_INSTALLED,
  type ChangeOp,
  type ChangePage,
  type ChangeSource,
  isCaptureNotInstalled,
} from './capture/types.js';
export { type Clock, type ManualClock, manualClock } from './clock.js';
export { jsonCodec } from './codec/json-codec.js';
export type { Codec, ColumnKind, ColumnKinds } from './codec/types.js';
export { ddlLock } from './drizzle/ddl-lock.js';
export { nextMigrationRecordId, strataMigrationsTable } from './drizzle/migrations-table.js';
export { migrationsTableStatements } from './drizzle/migrations-table-ddl.js';
export { toMs } from './duration.js';
export type { CaptureStats } from './engine/change-capture.js';
export { FlushLoop } from './engine/flush-loop.js';
export {
  deadLettersSentRouted,
  type FlushTarget,
  flushRouted,
  type RoutedFlushOutcome,
  type StrataResolver,
  type UnroutableWrite,
} from './engine/flush-routed.js';
export type { FlushOutcome } from './engine/flusher.js';
export { cacheStatusHeader, type ReadStatus } from './engine/read-status.js';
export { REPLACED_WAIT_MS } from './engine/replaced-wait.js';
export { deepFreeze } from './l1/freeze.js';
export { freezeRow } from './l1/freeze-row.js';
export { createMemoryL1 } from './l1/memory-l1.js';
export { type HostTimer, timerClock } from './l1/tick-clock.js';
export type { EvictionPolicy, EvictReason, L1Entry, L1Stats, L1Tier, MemoryL1Options } from './l1/types.js';
export { decodeEnvelope } from './l2/envelope.js';
export { getManyByMget, mgetValues } from './l2/get-many.js';
export { ORDERED_PUT_PUBLISH } from './l2/publish-scripts.js';
export { checkSendBy } from './l2/send-by.js';
export type { L2Script, L2Tier } from './l2/types.js';
export { type CaptureCheck, type CaptureDdlMode, CHANGES_CHANNEL, type L3Capture } from './l3/capture.js';
export type {
  CounterMark,
  L3Tier,
  MigrationRecord,
  MigrationResult,
  PendingWrite,
  PendingWrites,
  Row,
  ScanOptions,
  SearchQuery,
  StoredRow,
  ValueReplacement,
  WithdrawalFound,
  WithdrawnWrite,
  Write,
  WriteOp,
  WriteOutcome,
  WriterClaim,
} from './l3/types.js';
export { defaultLogger } from './observability/logger.js';
export { redactUrl } from './observability/redact-url.js';
export type {
  CallSite,
  SpanAttributes,
  SpanAttributeValue,
  TraceSpan,
  TracingInstruments,
} from './observability/tracing.js';
export { withSpans } from './observability/with-spans.js';
export { type DeadLetter, triesMade, type UnreadableDeadLetter } from './queue/dead-letter.js';
export type { MemoryQueue } from './queue/memory-queue.js';
export type { PullWriteQueue } from './queue/pull-queue.js';
export { checkTakeMax, queueClosedError } from './queue/queue-errors.js';
export { decodeQueuedWrite, parseQueuedWrite, parseQueuedWrites } from './queue/queued-write-schema.js';
export type { ColocatedQueue, Delivery, QueuedWrite, WriteQueue, WriteRoute } from './queue/types.js';
export {
  type BreakerState,
  type BreakerStats,
  CircuitBreaker,
  type CircuitBreakerOptions,
} from './resilience/circuit-breaker.js';
export { type GuardL2Options, guardL2 } from './resilience/guard-l2.js';
export { withTimeout } from './resilience/with-timeout.js';
export type { CompiledColumn, CompiledSchema } from './schema/types.js';
