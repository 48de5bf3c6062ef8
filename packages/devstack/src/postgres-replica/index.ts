// A throwaway Postgres primary with a streaming replica, for tests (Node only: it spawns processes
// and imports pg). Kept out of `@strata/devstack/testing`, which tests inside workerd import too.
export { PostgresReplicaError, type PostgresReplicaErrorCode } from './error.js';
export {
  type PostgresReplica,
  type PostgresReplicaOptions,
  type PostgresServer,
  startPostgresReplica,
} from './start.js';
