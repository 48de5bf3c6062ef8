import { bucketRoot } from '../engine/buckets.js';

/** Where the change relay keeps the app's shared state in L2 (see `ChangeRelay`). */
export interface RelayKeys {
  /** The change log's cursor: where the next read starts. */
  readonly cursor: string;
  /** When the cursor last moved (ms since the epoch): a read is due an interval after. */
  readonly movedAt: string;
  /** Who reads now (an instance id, with a short expiry). */
  readonly lease: string;
}

/**
 * The relay's keys: one cursor per app (per `keyPrefix`), whichever schemas it has, as the change
 * log is one per database. Its three scripts name all three keys, so they share one slot: under
 * the key root itself for one bucket (today's keys, byte for byte), else under bucket 0's root
 * `{root#0}`, where the app's tags already live (every key of the app stays under one of its
 * bucket roots; a change of the bucket count then starts the relay afresh, as it starts L2 afresh).
 * @example relayKeys('app').cursor; // 'app:changes:cursor'
 * @example relayKeys('app', 16).cursor; // '{app#0}:changes:cursor'
 */
export function relayKeys(root: string, buckets = 1): RelayKeys {
  const base = bucketRoot(root, 0, buckets);
  return {
    cursor: `${base}:changes:cursor`,
    movedAt: `${base}:changes:at`,
    lease: `${base}:changes:lease`,
  };
}
