import { Command, type Redis } from 'ioredis';

/**
 * An MGET whose keys are laid out here. `redis.mget(keys)` copies its arguments with
 * `Array.prototype.flat()`, about 130 ns per argument on Node 20 (see evalsha-command.ts): every L2
 * read sends the tick key and one key per row, so a getMany of 1,000 rows paid ~130 µs for it. The
 * command is built with no arguments (its constructor's argument work runs on an empty list) and
 * given a plain copy of the keys, strings already, which is all that work would make of them.
 * `replyEncoding` null: the values as the reply's bytes (`Buffer`s), as `mgetBuffer` answers.
 */
class MgetCommand extends Command {
  constructor(keys: readonly string[], errorStack: Error | undefined, replyEncoding: 'utf8' | null) {
    super('mget', [], { replyEncoding, ...(errorStack && { errorStack }) });
    const all = new Array<string>(keys.length);
    for (let i = 0; i < keys.length; i++) all[i] = keys[i]!;
    this.args = all;
  }
}

/**
 * Sends MGET of `keys` as `redis.mget(keys)` would: the same command, reply (utf8 strings, null for
 * a missing key) and errors; `bytes`: as `redis.mgetBuffer(keys)` would (Buffers). A client with a
 * `keyPrefix` (ioredis prefixes the keys as it builds the command) or auto-pipelining (it batches
 * what its command methods send) goes through `redis.mget` / `redis.mgetBuffer` itself.
 */
export function sendMget(redis: Redis, keys: readonly string[], bytes = false): Promise<unknown> {
  const { keyPrefix, enableAutoPipelining, showFriendlyErrorStack } = redis.options;
  if (keyPrefix || enableAutoPipelining)
    return bytes ? redis.mgetBuffer(keys as string[]) : redis.mget(keys as string[]);
  return redis.sendCommand(
    new MgetCommand(keys, showFriendlyErrorStack ? new Error() : undefined, bytes ? null : 'utf8'),
  ) as Promise<unknown>;
}

/**
 * `bytes[from, to)` as ioredis decodes a reply to a string (`Buffer#toString('utf8')`, invalid
 * sequences as U+FFFD): the L2 seam's `text`. `utf8Slice` is what `toString` calls after checking
 * its arguments; a payload decoded with it parses as fast as a whole reply string (`TextDecoder`'s
 * strings parse slower).
 */
export function utf8Text(bytes: Uint8Array, from: number, to: number): string {
  return (bytes as Buffer & { utf8Slice(from: number, to: number): string }).utf8Slice(from, to);
}
