// A throwaway Redis Cluster for tests (Node only: it imports ioredis and spawns processes). Kept
// out of `@strata/devstack/testing`, which tests inside workerd import too.
export { RedisClusterError, type RedisClusterErrorCode } from './error.js';
export {
  type RedisCluster,
  type RedisClusterNode,
  type RedisClusterOptions,
  startRedisCluster,
} from './start.js';
