// Options that moved when the config was grouped. No aliases (two names for one thing drift
// apart); a config that still uses one gets INVALID_CONFIG saying where the option went.
import { StrataError } from '../errors.js';

/** Old top-level name -> its place now. */
export const RENAMED_OPTIONS: Readonly<Record<string, string>> = {
  defaultL1Ttl: 'ttl.l1',
  defaultL2Ttl: 'ttl.l2',
  bus: 'coherence.bus',
  invalidationPollMs: 'coherence.pollInterval',
  queue: 'writeBehind.queue',
  writeBehindFlushInterval: 'writeBehind.flushInterval',
  writeBehindFlushThreshold: 'writeBehind.threshold',
  writeBehindMaxRetry: 'writeBehind.maxRetry',
  waitUntil: "background (pass the host's waitUntil: background: ctx.waitUntil.bind(ctx))",
  deferred: "background ('await' or 'track')",
};

/** Old names by their lower case: the Go library's spelling (`DefaultL1TTL` -> `defaultL1TTL`) finds them too. */
const BY_LOWER_CASE = new Map(Object.entries(RENAMED_OPTIONS).map(([old, now]) => [old.toLowerCase(), now]));

/** Throws INVALID_CONFIG for the first renamed option `config` still sets, in any letter case. */
export function refuseRenamedOptions(config: object): void {
  for (const key of Object.keys(config)) {
    const now = BY_LOWER_CASE.get(key.toLowerCase());
    if (now !== undefined) {
      throw new StrataError('INVALID_CONFIG', `config.${key} was renamed: use ${now}`, {
        details: { field: key, renamedTo: now },
      });
    }
  }
}
