import type { QueuedWrite } from './types.js';

/**
 * The wire form of a {@link QueuedWrite} (its JSON, as `JSON.stringify` writes it) up to its
 * version: `{"schema":…[,"keyPrefix":…],"id":…,"op":…[,"row":…][,"under":…][,"defaults":…],"version":`. A script that takes the version inside
 * Redis appends it and `}` (the one-round-trip write-behind `set`, see `ColocatedQueue`). Built from
 * its parts rather than by stringifying a write object and cutting its tail: no object per write,
 * and the same text, field for field, so `decodeQueuedWrite` reads it back like any other.
 *
 * @example
 * queuedWriteHead('app:users', 'app', 'k1', '{"id":1}') + 7 + '}';
 * // '{"schema":"app:users","keyPrefix":"app","id":"k1","op":"set","row":"{\"id\":1}","version":7}'
 */
export function queuedWriteHead(
  schema: string,
  keyPrefix: string | undefined,
  id: string,
  row: string | undefined,
  under?: QueuedWrite['under'],
  defaults?: readonly string[],
): string {
  // The writer's app, which a consumer shared by several routes the write by (see `flushRouted`).
  const app = keyPrefix === undefined ? '' : `,"keyPrefix":${JSON.stringify(keyPrefix)}`;
  const start = `{"schema":${JSON.stringify(schema)}${app},"id":${JSON.stringify(id)}`;
  if (row === undefined) return `${start},"op":"delete","version":`;
  // As JSON.stringify writes an `under` (`below` first, then its row when it has one).
  const beneath = under ? `,"under":${JSON.stringify(under)}` : '';
  const filled = defaults && defaults.length > 0 ? `,"defaults":${JSON.stringify(defaults)}` : '';
  return `${start},"op":"set","row":${JSON.stringify(row)}${beneath}${filled},"version":`;
}
