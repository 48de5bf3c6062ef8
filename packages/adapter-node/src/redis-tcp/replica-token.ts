/**
 * A server's replication offset from its `ROLE` reply: a primary's `master_repl_offset` (the bytes
 * of replication stream it has produced), a replica's applied offset (the stream it has executed:
 * `server.master->reploff` in Redis' source, moved only between commands and never inside a
 * MULTI/EXEC, and -1 while it has no link to its primary). Both count bytes of one stream, so a
 * replica at or past an offset the primary reported holds everything the primary held then.
 * Undefined for anything else (a primary read as a replica, a Sentinel, a malformed reply).
 */
export function roleOffset(reply: unknown, as: 'master' | 'slave'): number | undefined {
  if (!Array.isArray(reply) || reply[0] !== as) return undefined;
  const offset = Number(as === 'master' ? reply[1] : reply[4]);
  return Number.isSafeInteger(offset) ? offset : undefined;
}

/**
 * One instance's read-your-writes token over a primary and its replica: the primary's replication
 * offset after everything this instance has seen (its writes, and its reads too), so that a replica
 * read is taken only from a replica that has applied at least that much. Offsets, not clocks.
 *
 * Reads count as well as writes because Strata's read path checks that the Redis it reads never goes
 * back in time (the L2 tick, see `L2Watch`): a replica read older than a row or tick this instance
 * already saw on the primary would look like a Redis restored from an old snapshot.
 */
export class ReplicationToken {
  #offset = 0;
  /** The highest offset the primary reported: a lower one later means a primary with a new history. */
  #primaryHigh = 0;
  /** A write whose offset could not be read (ROLE failed): reads go to the primary until one is. */
  #unknown = false;

  /** What a replica must have applied for this instance to read it. */
  get offset(): number {
    return this.#offset;
  }

  /** True while a write's offset is unknown: only the primary is sure to show it. */
  get unknown(): boolean {
    return this.#unknown;
  }

  /**
   * ROLE on the primary, sent after a command on the same connection: its offset covers what that
   * command did or saw. A lower offset than the primary ever reported means it restarted (or another
   * server took its address) with a new history: its replica resyncs from it, so the token restarts
   * from there instead of keeping every read on the primary for ever.
   */
  notePrimary(reply: unknown): void {
    const offset = roleOffset(reply, 'master');
    if (offset === undefined) {
      this.#unknown = true;
      return;
    }
    this.#unknown = false;
    if (offset < this.#primaryHigh) this.#offset = offset;
    this.#primaryHigh = offset;
    if (offset > this.#offset) this.#offset = offset;
  }

  /** A write whose ROLE failed: the next reads go to the primary. */
  lost(): void {
    this.#unknown = true;
  }

  /** A replica read at `offset` was taken: nothing read later may be older than it. */
  noteReplica(offset: number): void {
    if (offset > this.#offset) this.#offset = offset;
  }
}
