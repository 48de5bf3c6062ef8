import { isStrataError } from '@strata/core';
import { mgetValues } from '@strata/core/driver';
import { Command, type Redis } from 'ioredis';
import type { ConnectionErrors } from './unreachable.js';

/**
 * An MGET whose keys are laid out here. `redis.mget(keys)` copies its arguments with
 * `Array.prototype.flat()`, about 130 ns per argument on Node 20 (see evalsha-command.ts): every L2
 * read sends the tick key and one key per row, so a getMany of 1,000 rows paid ~130 µs for it. The
 * command is built with no arguments (its constructor's argument work runs on an empty list) and
 * given a plain copy of the keys, strings already, which is all that work would make of them.
 */
class MgetCommand extends Command {
  constructor(keys: readonly string[], errorStack: Error | undefined) {
    super('mget', [], { replyEncoding: 'utf8', ...(errorStack && { errorStack }) });
    const all = new Array<string>(keys.length);
    for (let i = 0; i < keys.length; i++) all[i] = keys[i]!;
    this.args = all;
  }
}

/**
 * An {@link MgetCommand} whose promise settles as the L2 tier's `getMany` does: the reply checked
 * and normalised (`mgetValues`) as ioredis converts it, a failure told with the connection's own
 * error. The command's own promise is the read's: no `.then` on it (a promise and a turn of the
 * microtask queue between Redis' reply and the engine, on every L2 read).
 */
class MgetValuesCommand extends MgetCommand {
  readonly #tier: string;

  constructor(
    keys: readonly string[],
    errorStack: Error | undefined,
    tier: string,
    errors?: ConnectionErrors,
  ) {
    super(keys, errorStack);
    this.#tier = tier;
    if (errors === undefined) return;
    const reject = this.reject;
    // The reply check's own error (L2_UNAVAILABLE: not an MGET reply) is not about the connection.
    this.reject = (err: Error) => reject(isStrataError(err) ? err : (errors.explain(err) as Error));
  }

  override transformReply(reply: Buffer | Buffer[]): string[] {
    // A throw here rejects the command (ioredis catches it and calls `reject`). Null stays null.
    return mgetValues(this.#tier, this.args as string[], super.transformReply(reply)) as string[];
  }
}

/**
 * Sends MGET of `keys` as `redis.mget(keys)` would: the same command, reply (utf8 strings, null for
 * a missing key) and errors. A client with a `keyPrefix` (ioredis prefixes the keys as it builds
 * the command) or auto-pipelining (it batches what its command methods send) goes through
 * `redis.mget` itself.
 */
export function sendMget(redis: Redis, keys: readonly string[]): Promise<unknown> {
  const { keyPrefix, enableAutoPipelining, showFriendlyErrorStack } = redis.options;
  if (keyPrefix || enableAutoPipelining) return redis.mget(keys as string[]);
  return redis.sendCommand(
    new MgetCommand(keys, showFriendlyErrorStack ? new Error() : undefined),
  ) as Promise<unknown>;
}

/**
 * `getMany` of the ioredis L2 over `redis`: MGET of `keys`, its values checked (`mgetValues`, as
 * `tier`), a failure told by `errors` (the connection's own error, where the tier owns it).
 */
export function readMget(
  redis: Redis,
  keys: readonly string[],
  tier: string,
  errors: ConnectionErrors | undefined,
): Promise<(string | null)[]> {
  const { keyPrefix, enableAutoPipelining, showFriendlyErrorStack } = redis.options;
  if (keyPrefix || enableAutoPipelining) {
    return redis.mget(keys as string[]).then((reply) => mgetValues(tier, keys, reply), errors?.rethrow);
  }
  const stack = showFriendlyErrorStack ? new Error() : undefined;
  return redis.sendCommand(new MgetValuesCommand(keys, stack, tier, errors)) as Promise<(string | null)[]>;
}
