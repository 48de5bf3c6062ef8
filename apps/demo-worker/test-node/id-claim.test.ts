import { type LostReplyProxy, startLostReplyProxy } from '@strata/devstack';
import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Env } from '../src/env.js';
import { claimId } from '../src/id-claim.js';

// The demo's id claim over the real @upstash/redis client and the devstack's Upstash REST, through a
// loopback proxy that lets Redis run the claim's SET NX and drops the connection before the reply
// comes back. Before, the client sent the SET again (its default retries): "taken", so the create
// answered 409 for an id no one had, and the claim kept the id from every create for a day.

let proxy: LostReplyProxy;
let admin: Redis;
const prefix = uniqueName('demo_claim');

beforeAll(async () => {
  const upstash = testDevstack().upstash!;
  proxy = await startLostReplyProxy(upstash.url);
  admin = new Redis({ ...upstash, enableAutoPipelining: false });
});
afterAll(async () => {
  await admin.del(`${prefix}:demo:claim:players:p1`, `${prefix}:demo:claim:players:p2`);
  await proxy?.close();
});

function envThroughProxy(): Env {
  return {
    UPSTASH_REDIS_REST_URL: proxy.url,
    UPSTASH_REDIS_REST_TOKEN: testDevstack().upstash!.token,
    STRATA_KEY_PREFIX: prefix,
  } as Env;
}

it('a claim whose reply was lost is still this create’s, and a second claim of the id is refused', async () => {
  const env = envThroughProxy();
  proxy.loseRepliesTo(`${prefix}:demo:claim:players:p1`);
  expect(await claimId(env, 'players', 'p1')).toBe(true);
  expect(proxy.lost).toBe(1);
  expect(await claimId(env, 'players', 'p1')).toBe(false);
  expect(await claimId(env, 'players', 'p2')).toBe(true);
});
