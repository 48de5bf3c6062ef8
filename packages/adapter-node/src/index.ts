export { createRedisPubSubBus, type RedisPubSubBusOptions } from './bus/redis-pubsub-bus.js';
export { createIoredisL2 } from './l2/ioredis-l2.js';
export {
  createRedisStreamQueue,
  type RedisStreamQueue,
  type RedisStreamQueueOptions,
  type RedisStreamQueueStats,
} from './queue/redis-stream-queue.js';
export { nodeScheduler } from './scheduler.js';
