import type { L2Tier } from '../l2/types.js';
import { checkTags } from '../query/tags.js';
import type { Coherence } from './coherence.js';
import type { EngineContext } from './context.js';
import type { TagClock } from './tag-clock.js';
import { bumpTags } from './tag-keys.js';

/**
 * Drops every cached row and search list tagged with any of `tags`, for every instance at once:
 * rows and lists carry the tick they were read at, and one request moves each tag past every tick
 * given so far (`TagClock.bump`), whatever the number of rows and lists (no index, no SCAN). L1
 * copies go here at once and on the other instances through the bus. Throws what L2 throws (the
 * caller must know the entries may still be served); INVALID_QUERY for a bad tag, nothing moved.
 */
export async function invalidateTagged(
  ctx: EngineContext,
  l2: L2Tier | undefined,
  root: string,
  clock: TagClock | undefined,
  coherence: Coherence,
  tags: readonly string[],
): Promise<void> {
  const checked = checkTags(tags);
  if (checked.length === 0) return;
  // Without L2 only L1 copies exist: this instance's go now, the others' through the bus. An
  // instance without a tagged schema (no clock) has only lists to drop.
  let values: number[] = [];
  if (clock?.l2) values = await clock.bump(checked);
  else if (l2) values = await bumpTags(l2, root, checked);
  else clock?.learn(checked, []);
  ctx.counters.tagInvalidations += checked.length;
  await coherence.publishTags(checked, values);
}
