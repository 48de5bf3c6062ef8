// A throwaway Redis primary with a replica, for tests (Node only: it spawns processes and imports
// ioredis). Kept out of `@strata/devstack/testing`, which tests inside workerd import too.
export { RedisReplicaError, type RedisReplicaErrorCode } from './error.js';
export type { ReplicationRelay } from './relay.js';
export {
  type RedisReplica,
  type RedisReplicaOptions,
  type RedisServer,
  startRedisReplica,
} from './start.js';
