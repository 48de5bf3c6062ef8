import { Command, type Redis } from 'ioredis';

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
