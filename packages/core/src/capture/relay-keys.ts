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
 * The relay's keys under the app's key root: one cursor per app (per `keyPrefix`), whichever
 * schemas it has, as the change log is one per database.
 * @example relayKeys('app').cursor; // 'app:changes:cursor'
 */
export function relayKeys(root: string): RelayKeys {
  return {
    cursor: `${root}:changes:cursor`,
    movedAt: `${root}:changes:at`,
    lease: `${root}:changes:lease`,
  };
}
