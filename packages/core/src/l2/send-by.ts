import { StrataError } from '../errors.js';
import type { L2Script } from './types.js';

/**
 * The L2 seam's `sendBy` rule (see `L2Tier.run`), for every Redis L2 whatever its client: call it
 * right before the script leaves. Throws L2_UNAVAILABLE once `performance.now()` is past `sendBy`:
 * the caller has given up and reported that nothing was written, so the script is not sent at all.
 * `details.sent: false` says so to the caller (see `notRun`), as any tier's refusal to send should.
 *
 * @example
 * async run(script, keys, args, sendBy) {
 *   await this.#connected(sendBy); // waits for the connection at most until sendBy
 *   checkSendBy('ioredis', script, sendBy);
 *   return this.#redis.evalsha(sha, keys.length, ...keys, ...args);
 * }
 */
export function checkSendBy(tier: string, script: L2Script, sendBy: number | undefined): void {
  if (sendBy === undefined || performance.now() <= sendBy) return;
  throw new StrataError(
    'L2_UNAVAILABLE',
    `L2 ${tier} ${script.name}: not sent, its caller's deadline had passed (nothing was run)`,
    { details: { tier, op: script.name, sent: false } },
  );
}
