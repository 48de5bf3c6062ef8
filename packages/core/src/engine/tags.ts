import { BUMP_TAGS } from '../l2/scripts.js';
import type { L2Tier } from '../l2/types.js';
import { checkTags } from '../query/tags.js';
import type { EngineContext } from './context.js';
import type { KeySpace } from './keys.js';

/**
 * Drops every cached search list tagged with any of `tags`, for every instance at once: lists
 * live in L2 only and carry their tags' generations (see search.ts `listHash`), so one request
 * moving each generation on is the whole invalidation, whatever the number of lists. Throws what
 * L2 throws (the caller must know the lists may still be served); INVALID_QUERY for a bad tag.
 */
export async function invalidateTagged(
  ctx: EngineContext,
  l2: L2Tier | undefined,
  keys: KeySpace | undefined,
  tags: readonly string[],
): Promise<void> {
  const checked = checkTags(tags);
  // Without L2 (or any schema) no list is cached: nothing to drop.
  if (!l2 || !keys || checked.length === 0) return;
  await l2.run(
    BUMP_TAGS,
    checked.map((t) => keys.tag(t)),
    [],
  );
  ctx.counters.tagInvalidations += checked.length;
}
