// Options a newcomer hands to `new Strata` that belong elsewhere: those of the adapters'
// `createStrata` (which builds the tiers from URLs) and the Go library's connection fields. A plain
// "Unrecognized key" would leave them guessing where the option goes. Kept short: Workers bundle it.
import { StrataError } from '../errors.js';

const NODE = 'createStrata (@strata/adapter-node)';
const OF_NODE = new Set(
  'databaseurl redisurl redisreplicaurl rediscluster upstash driver maxconnections idleintransactiontimeout invalidationchannel writestream allowvolatilequeue allowevictingredis handlesignals beforeshutdown'.split(
    ' ',
  ),
);
/** The Go library's Config field (lower case) -> the createStrata option that replaces it. */
const OF_GO: Readonly<Record<string, string>> = {
  postgresdsn: 'databaseUrl',
  redisaddr: 'redisUrl',
  redispassword: 'redisUrl',
  redisdb: 'redisUrl',
  l3pool: 'maxConnections',
};

/** Throws INVALID_CONFIG naming where the first such option of `config` goes (any letter case). */
export function refuseOptionsOfElsewhere(config: object): void {
  for (const key of Object.keys(config)) {
    const lower = key.toLowerCase();
    const go = Object.hasOwn(OF_GO, lower) ? OF_GO[lower] : undefined;
    const where = OF_NODE.has(lower)
      ? `an option of ${NODE}: new Strata takes built tiers (l2, l3)`
      : lower === 'migrationsschema'
        ? 'an option of createDrizzleL3(db, { migrationsSchema }) or createStrata'
        : go && `the Go library's: give ${go} to ${NODE}`;
    if (where)
      throw new StrataError('INVALID_CONFIG', `config.${key} is ${where}`, { details: { field: key } });
  }
}
