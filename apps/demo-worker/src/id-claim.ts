import { StrataError } from '@strata/core';
import { Redis } from '@upstash/redis';
import type { Env } from './env.js';

/**
 * How long a claim holds an id: far past the write-behind flush (seconds; minutes with retries), after
 * which `exists()` finds the row in L2 or Postgres and the claim is no longer what refuses the id.
 */
const CLAIM_SECONDS = 24 * 60 * 60;

// One client per env object, like createStrata's one Strata per isolate.
const clients = new WeakMap<Env, Redis>();

function redisOf(env: Env): Redis {
  let redis = clients.get(env);
  if (!redis) {
    if (!env.UPSTASH_REDIS_REST_URL || !env.UPSTASH_REDIS_REST_TOKEN) {
      throw new StrataError('INVALID_CONFIG', 'id claims need UPSTASH_REDIS_REST_URL and _TOKEN');
    }
    // One fetch per command: the client's retries (and its `retry: false`, one retry) send a command
    // again when a fetch throws, which is also when the reply was lost after Redis ran it: a claim's
    // SET NX sent again answered "taken" for the claim it had just made (test-node/id-claim.test.ts).
    redis = new Redis({
      url: env.UPSTASH_REDIS_REST_URL,
      token: env.UPSTASH_REDIS_REST_TOKEN,
      retry: { retries: 0 },
    });
    clients.set(env, redis);
  }
  return redis;
}

/** Under the deployment's key prefix, so its Redis keys (and a test run's) stay together. */
function claimKey(env: Env, table: string, id: string): string {
  return `${env.STRATA_KEY_PREFIX || 'strata'}:demo:claim:${table}:${id}`;
}

/**
 * Claims `id` of `table` for one create: `SET NX` in Redis, atomic across every isolate and
 * instance, so of two requests creating one id at once exactly one gets true. A write-behind row is
 * only in Postgres after the flush, so no Postgres constraint can refuse it at request time; the
 * claim covers that window, and `exists()` the ids written before it. The claim holds a token of its
 * own: when the SET fails (its reply may have been lost after Redis ran it), a read of the key says
 * whether it landed, rather than leave an id claimed by no one for a day.
 * @example if (!(await claimId(env, 'scores', id))) return c.json(conflictBody('id', id), 409);
 */
export async function claimId(env: Env, table: string, id: string): Promise<boolean> {
  const key = claimKey(env, table, id);
  const token = crypto.randomUUID();
  try {
    return (await redisOf(env).set(key, token, { nx: true, ex: CLAIM_SECONDS })) === 'OK';
  } catch (err) {
    const held = await redisOf(env)
      .get(key)
      .catch(() => undefined);
    if (held === token) return true;
    throw err;
  }
}

/** Gives a claim back when the create failed, so the client can retry with the same id. */
export async function releaseId(env: Env, table: string, id: string): Promise<void> {
  await redisOf(env).del(claimKey(env, table, id));
}
