export { serviceUrls, uniqueName } from './defaults.js';
export { devVars } from './dev-vars.js';
export {
  type EmbeddedPostgres,
  type EmbeddedPostgresOptions,
  startEmbeddedPostgres,
} from './embedded/pglite.js';
export { RedisBinaryMissingError, type SpawnedRedis, spawnRedisServer } from './embedded/redis-server.js';
export { type LostReplyProxy, startLostReplyProxy } from './lost-reply-proxy.js';
export { neonLocalConfig } from './neon/client-config.js';
export { type NeonServerOptions, startNeonServer } from './neon/server.js';
export { canConnect, freePort } from './net.js';
export { processGroupAlive, spawnGroup, stopGroup, waitForLine } from './process-group.js';
export { type CommandOutcome, runCommand } from './run-command.js';
export { createScratchDatabase, type ScratchDatabase, withDatabase } from './scratch-database.js';
export { sweepScratchDatabases } from './scratch-sweep.js';
export {
  DevstackError,
  type DevstackOptions,
  type EmbeddedMode,
  serviceAddress,
  startDevstack,
} from './start.js';
export type * from './types.js';
export { startUpstashServer, type UpstashServerOptions } from './upstash/server.js';
