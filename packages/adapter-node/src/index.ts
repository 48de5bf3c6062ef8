export { createRedisPubSubBus, type RedisPubSubBusOptions } from './bus/redis-pubsub-bus.js';
export type { Driver } from './connect/driver.js';
export type { WriteBehindQueue } from './connect/redis-tiers.js';
export type { SignalOptions } from './connect/signals.js';
export { type CreateStrataOptions, createStrata, type NodeStrata } from './create-strata.js';
export { createIoredisL2 } from './l2/ioredis-l2.js';
export {
  type MigrateFromOptions,
  type MigrateFromResult,
  type MigrationTarget,
  migrateFrom,
} from './migrate-from.js';
export { type MigrationFile, readMigrationFiles } from './migrations/migration-files.js';
export type { QueueDurability } from './queue/durability.js';
export {
  createRedisStreamQueue,
  type RedisStreamQueue,
  type RedisStreamQueueOptions,
  type RedisStreamQueueStats,
} from './queue/redis-stream-queue.js';
export { nodeScheduler } from './scheduler.js';
