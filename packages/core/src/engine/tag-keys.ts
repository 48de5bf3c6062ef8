import { BUMP_TAGS, READ_TAGS } from '../l2/scripts.js';
import { tagSeed } from '../l2/tag-epoch.js';
import type { L2Tier } from '../l2/types.js';

/** A tag's value in L2: shared by the app's schemas, its rows and its cached searches. */
export function tagKey(root: string, tag: string): string {
  return `${root}:tag:${tag}`;
}

/** The app's tag clock: each move of a tag takes its next tick (see `BUMP_TAGS`). */
export function tagClockKey(root: string): string {
  return `${root}:tagclock`;
}

/**
 * Moves `tags` on in one request (`read`: reads the clock and them instead, see `READ_TAGS`):
 * resolves their new values (read: the clock's, then theirs). Throws what L2 throws.
 */
export async function bumpTags(
  l2: L2Tier,
  root: string,
  tags: readonly string[],
  read = false,
): Promise<number[]> {
  const keys = [tagClockKey(root), ...tags.map((t) => tagKey(root, t))];
  return ((await l2.run(read ? READ_TAGS : BUMP_TAGS, keys, [tagSeed()])) as unknown[]).map(Number);
}
