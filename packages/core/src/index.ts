// `@strata/core`: what an application uses. What an implementation of a seam (an L2, an L3, a bus,
// a write queue, a codec) needs besides is `@strata/core/driver`; the rest is internal. Every name
// here is listed in packages/core/api-report.md (scripts/api-report.test.ts), with a doc comment and
// an example on its declaration. The drivers are entries of their own, one per backend, so an app
// loads only the clients it uses: `@strata/core/drizzle` (the L3) and `@strata/core/upstash`. Admin
// operations (key rotation, applying captured changes) are `@strata/core/admin`.

export type { InvalidationBus } from './bus/types.js';
export { changeRelay } from './capture/change-relay.js';
export type { PollOutcome } from './capture/relay.js';
export type { CapturedChange } from './capture/types.js';
export type { Codec } from './codec/types.js';
export { type Background, type StrataConfig, strataDefaults } from './config.js';
export type { KeyMaterial, KeyringOptions } from './crypto/types.js';
export type { Duration } from './duration.js';
export type { Bucketing } from './engine/bucketing.js';
export type { FullRowOf, GetOptions, InsertOf, RowOf } from './engine/call-types.js';
export type { CaptureAdmin } from './engine/capture-admin.js';
export { clusterBuckets } from './engine/cluster-buckets.js';
export type { Id } from './engine/ids.js';
export type { StrataStats } from './engine/stats.js';
export { Strata } from './engine/strata.js';
export { type CommitOptions, Tx } from './engine/tx.js';
export { isStrataError, StrataError, type StrataErrorCode } from './errors.js';
export type { L2Tier } from './l2/types.js';
export type { L3Tier, MigrationRecord, MigrationResult } from './l3/types.js';
export { consoleLogger, type Logger } from './observability/logger.js';
export type { MetricsRecorder } from './observability/metrics.js';
export type { Tracer } from './observability/tracing.js';
export { Q } from './query/builder.js';
export type { Query } from './query/types.js';
export { createMemoryQueue } from './queue/memory-queue.js';
export type { WriteQueue } from './queue/types.js';
export type { Scheduler } from './scheduler.js';
export { defineSchema, type Schema, type SchemaDefinition } from './schema/define-schema.js';
export type { CompiledSchema, FieldOptions, WriteMode } from './schema/types.js';
