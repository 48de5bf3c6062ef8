// Options a newcomer hands to `new Strata` that belong elsewhere: those of the adapters'
// `createStrata` (which builds the tiers from URLs) and the Go library's connection fields. A plain
// "Unrecognized key" would leave them guessing where the option goes.
import { StrataError } from '../errors.js';

const NODE = 'createStrata (@strata/adapter-node)';
const OF_NODE = `an option of ${NODE}, not of new Strata: new Strata takes built tiers (l2, l3, coherence.bus, writeBehind.queue)`;
const GO_REDIS = `give redisUrl ('redis://:password@host:6379/0', RedisPassword and RedisDB in it) to ${NODE}, or l2: createIoredisL2(redisUrl) from @strata/adapter-node/redis-tcp`;

/** Option -> where it goes, as the end of "config.<option> is …". */
const ELSEWHERE: Readonly<Record<string, string>> = {
  ...Object.fromEntries(
    [
      'databaseUrl',
      'redisUrl',
      'redisReplicaUrl',
      'redisCluster',
      'upstash',
      'driver',
      'maxConnections',
      'idleInTransactionTimeout',
      'invalidationChannel',
      'writeStream',
      'allowVolatileQueue',
      'allowEvictingRedis',
      'handleSignals',
      'beforeShutdown',
    ].map((name) => [name, OF_NODE]),
  ),
  migrationsSchema:
    "an option of the L3 (createDrizzleL3(db, { migrationsSchema }) from @strata/core/drizzle) or of the adapters' createStrata, not of new Strata",
  postgresDSN: `the Go library's PostgresDSN: give databaseUrl to ${NODE}, or l3: createDrizzleL3(drizzle(pool))`,
  redisAddr: `the Go library's RedisAddr: ${GO_REDIS}`,
  redisPassword: `the Go library's RedisPassword: ${GO_REDIS}`,
  redisDB: `the Go library's RedisDB: ${GO_REDIS}`,
  l1Pool: "the Go library's L1Pool: use l1 ({ maxEntries, eviction })",
  l2Pool: "the Go library's L2Pool: use timeouts.l2",
  l3Pool: `the Go library's L3Pool: use maxConnections of ${NODE}`,
};

/** By lower case, so the Go spelling (`PostgresDSN`, `RedisDB`) finds its entry too. */
const BY_LOWER_CASE = new Map(Object.entries(ELSEWHERE).map(([name, where]) => [name.toLowerCase(), where]));

/** Throws INVALID_CONFIG naming where the first such option of `config` goes. */
export function refuseOptionsOfElsewhere(config: object): void {
  for (const key of Object.keys(config)) {
    const where = BY_LOWER_CASE.get(key.toLowerCase());
    if (where !== undefined) {
      throw new StrataError('INVALID_CONFIG', `config.${key} is ${where}`, { details: { field: key } });
    }
  }
}
