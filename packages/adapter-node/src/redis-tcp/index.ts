// `@strata/adapter-node/redis-tcp`: the drivers for Redis over TCP (ioredis): the L2, the pub/sub
// invalidation bus and the durable Redis Stream write queue. `createStrata` wires them from a
// `redisUrl`; this entry is for building a Strata (or a Vercel function's queue) by hand.

export { createRedisPubSubBus, type RedisPubSubBusOptions } from './bus.js';
export type { QueueDurability, QueueEviction } from './durability.js';
export { createIoredisL2, type IoredisClusterL2Options } from './l2.js';
export {
  createRedisStreamQueue,
  type RedisStreamQueue,
  type RedisStreamQueueOptions,
  type RedisStreamQueueStats,
} from './queue.js';
export { strataRetryStrategy } from './reconnect-delay.js';
export type { IoredisReplicaL2, IoredisReplicaL2Options, ReplicaReadStats } from './replica-options.js';
