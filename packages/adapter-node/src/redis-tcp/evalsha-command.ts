import { Command, type Redis } from 'ioredis';

/**
 * An EVALSHA whose arguments are laid out here, once. ioredis' own `redis.evalsha(sha, n, ...keys,
 * ...args)` gathers them into a rest array and then copies it again with `Array.prototype.flat()`,
 * which costs about 130 ns per argument on Node 20: a write-behind `set` sends some 28, and that
 * copy was the largest single cost of the call on the client (more than encoding the row). The
 * command is built with no arguments, so its constructor's argument work (flat, the argument
 * transformer ioredis has none of for EVALSHA, stringification) runs on an empty list; every
 * argument given here is a string already, which is all that work would have made of it.
 */
class EvalshaCommand extends Command {
  constructor(sha: string, keys: readonly string[], args: readonly string[], errorStack: Error | undefined) {
    super('evalsha', [], { replyEncoding: 'utf8', ...(errorStack && { errorStack }) });
    const all = new Array<string>(2 + keys.length + args.length);
    all[0] = sha;
    all[1] = String(keys.length);
    for (let i = 0; i < keys.length; i++) all[2 + i] = keys[i]!;
    for (let i = 0; i < args.length; i++) all[2 + keys.length + i] = args[i]!;
    this.args = all;
  }
}

/**
 * Sends EVALSHA `sha` with `keys` and `args` as `redis.evalsha` would: the same command, reply
 * (utf8) and errors. A client with a `keyPrefix` (ioredis prefixes the keys as it builds the
 * command) or auto-pipelining (it batches what its command methods send) goes through
 * `redis.evalsha` itself.
 */
export function sendEvalsha(
  redis: Redis,
  sha: string,
  keys: readonly string[],
  args: readonly string[],
): Promise<unknown> {
  const { keyPrefix, enableAutoPipelining, showFriendlyErrorStack } = redis.options;
  if (keyPrefix || enableAutoPipelining) return redis.evalsha(sha, keys.length, ...keys, ...args);
  return redis.sendCommand(
    new EvalshaCommand(sha, keys, args, showFriendlyErrorStack ? new Error() : undefined),
  ) as Promise<unknown>;
}
