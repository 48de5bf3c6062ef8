import type { LogEntry, LogSnapshot } from './log-script.js';
import { compareStreamIds, STREAM_START } from './stream-id.js';

/** Where a reader is in the log. */
export interface LogCursor {
  /** The last entry read (or skipped); `0-0` before the stream exists. */
  id: string;
  /**
   * How many entries the stream had ever been given up to `id` (its `entries-added` then); undefined
   * where the server does not report `entries-added` (before Redis 7).
   */
  added: number | undefined;
}

/** What a poll does with one read of the log. */
type LogStep =
  /** Messages after the cursor are gone: clear L1 and continue from `cursor` (the end). */
  | { kind: 'gap'; cursor: LogCursor }
  /** Deliver `entries`; `more` when the page was full and the next read may find more. */
  | { kind: 'read'; cursor: LogCursor; entries: LogEntry[]; more: boolean };

/** The cursor at the end of what the script saw: where subscribe starts, and where a gap jumps. */
export function endOf(log: LogSnapshot): LogCursor {
  return log.lastId === '' ? { id: STREAM_START, added: 0 } : { id: log.lastId, added: log.entriesAdded };
}

/**
 * Decides, from a cursor and what the read script saw, whether anything after the cursor was lost,
 * and where the cursor goes next. A gap is:
 * - the stream is gone while the cursor had moved, or it was deleted and recreated (it ends before
 *   the cursor, or it was given fewer entries than the cursor had counted);
 * - an entry after the cursor was deleted (`max-deleted-entry-id` > cursor);
 * - the log was trimmed past the cursor. Exact with `entries-added`: trimming removes the oldest
 *   entries, so something after the cursor is gone exactly when more entries were removed
 *   (`entries-added - length`) than there were up to the cursor. Without it (older servers), the
 *   first entry left being after the cursor is the sign — conservative: it is also true when only
 *   the cursor's own entry went, and then costs one needless L1 clear.
 *
 * @example
 * const log = { lastId: '9-0', maxDeletedId: '0-0', firstId: '8-0', entriesAdded: 9, length: 2, entries: [] };
 * nextLogStep({ id: '5-0', added: 5 }, log, 100); // { kind: 'gap', cursor: { id: '9-0', added: 9 } }
 */
export function nextLogStep(cursor: LogCursor, log: LogSnapshot, batchSize: number): LogStep {
  if (log.lastId === '') {
    return cursor.id === STREAM_START
      ? { kind: 'read', cursor: endOf(log), entries: [], more: false }
      : { kind: 'gap', cursor: endOf(log) };
  }
  if (lost(cursor, log)) return { kind: 'gap', cursor: endOf(log) };
  const last = log.entries.at(-1);
  return {
    kind: 'read',
    cursor: {
      id: last?.id ?? cursor.id,
      added: cursor.added === undefined ? undefined : cursor.added + log.entries.length,
    },
    entries: log.entries,
    more: log.entries.length >= batchSize,
  };
}

function lost(cursor: LogCursor, log: LogSnapshot): boolean {
  if (compareStreamIds(log.lastId, cursor.id) < 0) return true;
  if (log.maxDeletedId !== '' && compareStreamIds(log.maxDeletedId, cursor.id) > 0) return true;
  if (log.entriesAdded !== undefined && cursor.added !== undefined) {
    return log.entriesAdded < cursor.added || log.entriesAdded - log.length > cursor.added;
  }
  if (log.firstId !== '') return compareStreamIds(log.firstId, cursor.id) > 0;
  return compareStreamIds(log.lastId, cursor.id) > 0;
}
