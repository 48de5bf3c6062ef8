import type { L2Script } from './types.js';

/** Per key: SET NX PX of its lease. KEYS = leases; ARGV = owner, ms. Reply: per key 1 (taken) or 0. */
export const TAKE_LEASES: L2Script = {
  name: 'take-leases',
  source: `local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('SET', KEYS[i], ARGV[1], 'NX', 'PX', tonumber(ARGV[2])) and 1 or 0
end
return out`,
};

/**
 * Shares a writer claim among the app's instances (see `WriterClaims`): KEYS[1] = the schema's
 * `writerKey`, ARGV = the claim (`{mode} {identity}`), how long it is trusted (ms, Redis' clock).
 */
export const SHARE_WRITER_CLAIM: L2Script = {
  name: 'share-writer-claim',
  source: `return redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))`,
};
