import { invalidQuery, preview } from './invalid.js';

/** Longest tag: a name such as `league:7`, not a payload. */
const MAX_TAG_CHARS = 128;
/** Most tags on one query or one invalidateTags call: each is one Redis key read or moved. */
const MAX_TAGS = 32;
// Printable, no spaces: tags end up in Redis keys and log lines.
const TAG = /^[\x21-\x7e]+$/;

/**
 * Tags as given, checked (an array of 1 to 128 printable ASCII characters without spaces, at most 32), sorted and
 * without repeats; INVALID_QUERY naming the bad one (`details.field: 'tags'`).
 * @example checkTags(['league:7', 'season:2026', 'league:7']); // ['league:7', 'season:2026']
 */
export function checkTags(tags: readonly unknown[]): string[] {
  // A string would pass as its characters' tags ('league:7' as 'l', 'e', …): a list that
  // invalidateTags(['league:7']) never drops. JavaScript callers and hand-made queries can pass one.
  if (!Array.isArray(tags)) throw invalidQuery('tags', 'tags must be an array');
  if (tags.length > MAX_TAGS) throw invalidQuery('tags', `more than ${MAX_TAGS} tags`);
  for (const tag of tags) {
    if (typeof tag !== 'string' || tag.length === 0 || tag.length > MAX_TAG_CHARS || !TAG.test(tag)) {
      throw invalidQuery(
        'tags',
        `bad tag ${JSON.stringify(preview(tag))}: 1-${MAX_TAG_CHARS} printable ASCII`,
      );
    }
  }
  return [...new Set(tags as string[])].sort();
}
