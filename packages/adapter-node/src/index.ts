// `@strata/adapter-node`: the wiring for a long-lived Node process (createStrata from URLs, the
// timer scheduler and clock, shutdown on signals, migrations from files). The Redis-over-TCP drivers it wires
// are `@strata/adapter-node/redis-tcp`.

export { nodeClock } from './clock.js';
export type { RedisClusterConfig } from './connect/cluster-tiers.js';
export type { Driver } from './connect/driver.js';
export type { WriteBehindQueue } from './connect/redis-tiers.js';
export { type PoolEvents, type PooledClient, releaseEndedClients } from './connect/release-ended-clients.js';
export type { SignalOptions } from './connect/signals.js';
export { type CreateStrataOptions, createStrata, type NodeStrata } from './create-strata.js';
export {
  type MigrateFromOptions,
  type MigrateFromResult,
  type MigrationTarget,
  migrateFrom,
} from './migrate-from.js';
export { type MigrationFile, readMigrationFiles } from './migrations/migration-files.js';
export { nodeScheduler } from './scheduler.js';
