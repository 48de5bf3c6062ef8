import { WRITE_FIELD } from './stream-entry.js';

/**
 * Moves entries from the queue's stream to its dead-letter stream in one atomic step, but only the
 * ones still in the queue: one acked meanwhile (a peer reclaimed and flushed it, so it was deleted)
 * is not dead-lettered after the fact, and a crash can never leave an entry in both or in neither.
 *
 * KEYS: the stream, the dead-letter stream. ARGV: the group, then `id, wire value, reason, attempts`
 * per entry. Returns how many moved. (In Redis Cluster both keys need one hash tag, e.g. `{strata}:writes`.)
 */
export const BURY_SCRIPT = `
local moved = 0
for i = 2, #ARGV, 4 do
  local id = ARGV[i]
  if #redis.call('XRANGE', KEYS[1], id, id) > 0 then
    redis.call('XADD', KEYS[2], '*', '${WRITE_FIELD}', ARGV[i + 1], 'reason', ARGV[i + 2],
      'attempts', ARGV[i + 3], 'handle', id)
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('XDEL', KEYS[1], id)
    moved = moved + 1
  end
end
return moved
`;

/** One entry for {@link BURY_SCRIPT}. */
export interface Burial {
  readonly id: string;
  readonly value: string;
  readonly reason: string;
  readonly attempts: number;
}

/** The ARGV of {@link BURY_SCRIPT}. */
export function buryArgs(group: string, burials: readonly Burial[]): string[] {
  return [group, ...burials.flatMap((b) => [b.id, b.value, b.reason, String(b.attempts)])];
}
