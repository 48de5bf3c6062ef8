import { randomHex } from '../random-id.js';
/**
 * Tells a Redis that restarted without its data, or came back from an older snapshot (a restore, a
 * failover to a replica that lagged), from one that kept running. Every write script INCRs a tick
 * and every read also reads it (one more key in the same MGET), so the first request this instance
 * sends to such a Redis finds out. Either way L2 may now serve rows
 * older than what every instance already acknowledged, and counters (generations, write-behind
 * versions) may have gone back: the engine treats it as an invalidateAll of every schema.
 *
 * Every generation read (at most every 5 s per schema and instance) also reads a boot marker — set
 * by whoever finds it missing, so a Redis that lost its data answers with a new one — and INCRs a
 * tick. A tick never goes back in a Redis that kept its data, so a reply with a tick not above one
 * already seen BEFORE that request was sent comes from a Redis that went back in time. Comparing
 * with what was seen before sending (not with the latest reply) keeps two requests in flight at
 * once, answered out of order, from looking like a restore.
 */
export class L2Watch {
  #boot: string | undefined;
  #tick = 0;
  resets = 0;
  /**
   * Redis' clock minus this instance's (ms), from the last generation read: L2 values' fresh ends
   * are stamped and read on Redis' clock (`SchemaCache.l2Now`), one clock for every instance, so a
   * clock minutes off neither keeps rows fresh for the others nor makes them refill each other's.
   * Its error is half the read's round trip. 0 with a manual clock (tests age L2 on it alone).
   */
  skew = 0;

  /**
   * `onReset` gets why, and the boot marker the first generation move after it is to replace: the
   * one known before a tick went back (a restored Redis keeps the old life's marker; '*' when none
   * was known yet), '' when a new marker told (it already names the new life).
   */
  constructor(readonly onReset: (why: string, replace: string) => void) {}

  /**
   * A boot marker to set where none is (or to replace an old life's): new every time, so a Redis
   * that lost its data never gets back the marker it had, whoever sets it.
   */
  newMarker(): string {
    // A leading letter: never JSON, so a client that parses replies hands it back as it is.
    return `b${randomHex(9)}`;
  }

  /** The floor to pass to {@link observe} for a request sent now. */
  floor(): number {
    return this.#tick;
  }

  /**
   * Reads what a reply to a request sent at `floor` says: the tick (INCR'd by the request, or only
   * read when `incremented` is false) and, from a generation read, the boot marker.
   */
  observe(
    boot: string | undefined,
    tick: number,
    floor: number,
    { incremented = true }: { incremented?: boolean } = {},
  ): void {
    const known = this.#boot;
    if (boot !== undefined) this.#boot = boot;
    let reset = true;
    if (boot !== undefined && known !== undefined && boot !== known) {
      this.#reset('Redis restarted without its data (new boot marker)', '');
    } else if (incremented ? tick <= floor : tick < floor) {
      this.#reset(`Redis went back in time (tick ${tick}, ${floor} seen before)`, known ?? '*');
    } else reset = false;
    // After a reset the Redis as it is now is the baseline.
    if (reset || tick > this.#tick) this.#tick = tick;
  }

  /** Redis said its time was `redisMs` to a request sent at `sentAt` and answered at `receivedAt`. */
  observeTime(redisMs: unknown, sentAt: number, receivedAt: number): void {
    // An older Redis script (a rolling deploy) replies no time: the last estimate stands.
    if (typeof redisMs === 'number' && Number.isFinite(redisMs))
      this.skew = Math.round(redisMs - (sentAt + receivedAt) / 2);
  }

  /** The boot marker a reset's generation move found or set: the Redis life this instance is in. */
  adopt(boot: string): void {
    this.#boot = boot;
  }

  /**
   * Something other than the tick proved that Redis went back (a write-behind counter below the
   * version Postgres marked it handed out: see `checkCounters`), where this instance remembers no
   * newer tick. A reset as a tick that went back is, replacing the boot marker known (a restored
   * Redis keeps the old life's), so the other instances learn it from the new one.
   */
  wentBack(why: string): void {
    this.#reset(why, this.#boot ?? '*');
  }

  #reset(why: string, replace: string): void {
    this.resets += 1;
    this.onReset(why, replace);
  }
}
