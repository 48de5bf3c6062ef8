export { BusDelivery } from './bus/delivery.js';
export {
  decodeInvalidation,
  encodeInvalidation,
  MAX_INVALIDATION_ID_BYTES,
  MAX_INVALIDATION_IDS,
} from './bus/message.js';
export type { BusHandlers, BusStats, Invalidation, InvalidationBus } from './bus/types.js';
export { type Clock, type ManualClock, manualClock, systemClock } from './clock.js';
export { jsonCodec } from './codec/json-codec.js';
export type { Codec, ColumnKind, ColumnKinds } from './codec/types.js';
export type { ResolvedConfig, StrataConfig } from './config.js';
export { createAesGcmEncryptor } from './crypto/aes-gcm-encryptor.js';
export type { Encryptor, KeyMaterial, KeyringOptions } from './crypto/types.js';
export { type Duration, type DurationUnit, toMs } from './duration.js';
export { settle as settleFlushOutcome } from './engine/flush-loop.js';
export type { FlushOutcome } from './engine/flusher.js';
export type { Id } from './engine/ids.js';
export type { ReencryptOptions, ReencryptResult } from './engine/reencrypt.js';
export type { SchemaRef } from './engine/registry.js';
export type { StrataStats } from './engine/stats.js';
export { type FullRowOf, type GetOptions, type InsertOf, type RowOf, Strata } from './engine/strata.js';
export { type CommitOptions, Tx } from './engine/tx.js';
export {
  isStrataError,
  STRATA_ERROR_CODES,
  StrataError,
  type StrataErrorCode,
  type StrataErrorOptions,
} from './errors.js';
export { deepFreeze } from './l1/freeze.js';
export { freezeRow } from './l1/freeze-row.js';
export { createMemoryL1, MemoryL1 } from './l1/memory-l1.js';
export type { EvictionPolicy, EvictReason, L1Entry, L1Stats, L1Tier, MemoryL1Options } from './l1/types.js';
export { decodeEnvelope, type Envelope, encodeEnvelope } from './l2/envelope.js';
export { L2_SCRIPTS } from './l2/scripts.js';
export type { L2Script, L2Tier } from './l2/types.js';
export { createDrizzleL3, type DrizzleL3Options } from './l3/drizzle-l3.js';
export { ddlLock } from './l3/migrate.js';
export {
  migrationsTableStatements,
  nextMigrationRecordId,
  strataMigrationsTable,
} from './l3/migrations-table.js';
export type {
  L3Tier,
  MigrationRecord,
  MigrationResult,
  Row,
  ScanOptions,
  SearchQuery,
  StoredRow,
  ValueReplacement,
  Write,
  WriteOp,
  WriteOutcome,
} from './l3/types.js';
export { strataVersionsTable } from './l3/versions-table.js';
export type { LatencySummary } from './observability/latency.js';
export { consoleLogger, type Logger, noopLogger } from './observability/logger.js';
export { type MetricsRecorder, noopMetrics, type Tier } from './observability/metrics.js';
export { Q, QueryBuilder } from './query/builder.js';
export { compileQuery } from './query/compile.js';
export { normalizeQuery, queryFingerprint } from './query/fingerprint.js';
export { DEFAULT_LIMIT, MAX_LIMIT } from './query/limits.js';
export type { Query, WhereText } from './query/types.js';
export { whereToSql } from './query/where.js';
export type { DeadLetter, UnreadableDeadLetter } from './queue/dead-letter.js';
export { createMemoryQueue, type MemoryQueue, type MemoryQueueOptions } from './queue/memory-queue.js';
export type { PullWriteQueue } from './queue/pull-queue.js';
export { checkTakeMax, queueClosedError } from './queue/queue-errors.js';
export {
  decodeQueuedWrite,
  parseQueuedWrite,
  parseQueuedWrites,
  queuedWriteSchema,
} from './queue/queued-write-schema.js';
export type { Delivery, QueuedWrite, WriteQueue } from './queue/types.js';
export {
  type BreakerState,
  type BreakerStats,
  CircuitBreaker,
  type CircuitBreakerOptions,
} from './resilience/circuit-breaker.js';
export { type GuardL2Options, guardL2 } from './resilience/guard-l2.js';
export { withTimeout } from './resilience/with-timeout.js';
export {
  type ColumnKey,
  defineSchema,
  type OmitCacheKeys,
  type Schema,
  type SchemaDefinition,
} from './schema/define-schema.js';
export type {
  CompiledColumn,
  CompiledSchema,
  FieldOptions,
  IndexDefinition,
  L1Policy,
  L2Policy,
  L3Policy,
  SchemaHooks,
  WriteMode,
} from './schema/types.js';
export type { RowValidator, StandardSchemaV1 } from './schema/validation.js';
