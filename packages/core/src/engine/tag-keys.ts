import { BUMP_TAGS, READ_TAGS } from '../l2/scripts.js';
import { tagSeed } from '../l2/tag-epoch.js';
import type { L2Script, L2Tier } from '../l2/types.js';

/** A tag's value in L2: shared by the app's schemas, its rows and its cached searches. */
export function tagKey(root: string, tag: string): string {
  return `${root}:tag:${tag}`;
}

/** The app's tag clock: each move of a tag takes its next tick (see `BUMP_TAGS`). */
export function tagClockKey(root: string): string {
  return `${root}:tagclock`;
}

/** Moves `tags` on in one request; resolves their new values. Throws what L2 throws. */
export function bumpTags(l2: L2Tier, root: string, tags: readonly string[]): Promise<number[]> {
  return runTagScript(BUMP_TAGS, l2, root, tags);
}

/**
 * Reads the tag clock and `tags` in one request, a missing one put at the clock's value (see
 * `READ_TAGS`); resolves the clock's value, then theirs. Throws what L2 throws.
 */
export function readTags(l2: L2Tier, root: string, tags: readonly string[]): Promise<number[]> {
  return runTagScript(READ_TAGS, l2, root, tags);
}

/** Both tag scripts take the clock then the tags as keys, and a seed for a clock found missing. */
async function runTagScript(script: L2Script, l2: L2Tier, root: string, tags: readonly string[]) {
  const keys = [tagClockKey(root), ...tags.map((t) => tagKey(root, t))];
  return ((await l2.run(script, keys, [tagSeed()])) as unknown[]).map(Number);
}
