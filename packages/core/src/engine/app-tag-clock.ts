import type { ResolvedConfig } from '../config.js';
import type { L2Tier } from '../l2/types.js';
import { tagsMoved } from './cache-forget.js';
import type { EngineContext } from './context.js';
import type { SchemaCache } from './schema-cache.js';
import { TagClock } from './tag-clock.js';

/**
 * The app's tag clock, made once a schema tags its rows (search lists' tags need none): a move
 * drops the tagged copies of every registered schema, `all()` as it is then.
 */
export function appTagClock(
  config: ResolvedConfig,
  ctx: EngineContext,
  l2: L2Tier | undefined,
  root: string,
  all: () => SchemaCache[],
): TagClock {
  return new TagClock({
    l2,
    root,
    time: config.clock,
    onMove: (moved) => {
      for (const rt of all()) tagsMoved(rt, moved);
    },
    onError: (err) => {
      ctx.counters.error('tags');
      config.logger.warn('reading tag values failed', { error: String(err) });
    },
    l2TimeoutMs: config.timeouts.l2,
    waits: ctx.waits,
  });
}
