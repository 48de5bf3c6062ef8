import { randomHex } from '../random-id.js';
/**
 * Tells a Redis that restarted without its data, or came back from an older snapshot (a restore, a
 * failover to a replica that lagged), from one that kept running. A failover loses only a few ticks,
 * which other instances' requests make up within seconds, so the boot marker also carries the
 * server's replication id (see `SERVER_ID` in l2/scripts.ts): a generation read that finds it
 * changed replaces the marker, and every instance resets. Every write script INCRs a tick
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
  /** The highest tick another instance told in this Redis life (`hear`). */
  #heard = 0;
  /** The boot marker of a life found gone back: late messages of it raise no floor again. */
  #stale: string | undefined;
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

  /** The floor to pass to {@link observe} for a request sent now that INCRs the tick. */
  floor(): number {
    return Math.max(this.#heard, this.#tick);
  }

  /** The floor of a request that only reads the tick (it may go to a replica). */
  readFloor(): number {
    return this.#tick;
  }

  /** What this instance tells of this Redis life: `{boot}:{tick}`, '' before it knows the marker. */
  told(): string {
    return this.#boot === undefined || this.#boot === this.#stale ? '' : `${this.#boot}:${this.#tick}`;
  }

  /** Another instance's {@link told}: its tick counts only in the Redis life this one knows. */
  hear(life: string): void {
    const at = life.lastIndexOf(':');
    if (at < 1 || life.slice(0, at) !== this.#boot || this.#boot === this.#stale) return;
    const tick = Number(life.slice(at + 1));
    if (Number.isSafeInteger(tick) && tick > this.#heard) this.#heard = tick;
  }

  /**
   * Reads what a reply to a request sent at `floor` says: the tick (INCR'd by the request, or only
   * read when `incremented` is false) and, from a generation read, the boot marker, and whether that
   * read `renewed` it: the marker it found was born under another Redis server id (a failover to a
   * replica, a restart), so this Redis may serve rows older than acknowledged writes, even to an
   * instance that knew no marker before.
   */
  observe(
    boot: string | undefined,
    tick: number,
    floor: number,
    { incremented = true, renewed = false }: { incremented?: boolean; renewed?: boolean } = {},
  ): void {
    const known = this.#boot;
    if (boot !== undefined) this.#boot = boot;
    let why: string | undefined;
    let replace = '';
    if (renewed) {
      why = 'Redis is another server now (its replication id changed: a failover or a restart)';
    } else if (boot !== undefined && known !== undefined && boot !== known) {
      // Whoever found the reset first set the marker: this instance only knows it changed (a
      // restart that kept its data but was found by the replication id reads the same here).
      why = 'Redis was reset (a new boot marker: it lost its data, or another instance found it restarted)';
    } else if (incremented ? tick <= floor : tick < floor) {
      why = `Redis went back in time (tick ${tick}, ${floor} seen before)`;
      replace = known ?? '*';
    }
    // After a reset the Redis as it is now is the baseline: set before `onReset` runs, which may
    // publish (and so tell this tick) at once.
    if (why !== undefined || tick > this.#tick) this.#tick = tick;
    if (why !== undefined) this.#reset(why, replace, known);
  }

  /**
   * The boot marker a write script is to find (see `LIFE` in l2/life-script.ts), undefined before
   * any is known. A life found over keeps its marker here until the reset's move adopts the new one,
   * so nothing this instance sends is written in between.
   */
  life(): string | undefined {
    return this.#boot;
  }

  /**
   * A write script found Redis in another life than {@link life} (`boot` there, '' when none),
   * at `tick`, and wrote nothing: Redis lost its data, though the tick went on (other instances'
   * scripts passed the floor this one saw). Found once per life: a reply of a life found already,
   * or of the one adopted since, only has the write sent again.
   */
  lifeChanged(boot: string, tick: number): void {
    const known = this.#boot;
    if ((known !== undefined && known === this.#stale) || (boot !== '' && boot === known)) return;
    this.#tick = tick;
    this.#reset('Redis restarted without its data (a write found its boot marker gone or new)', '', known);
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
    this.#reset(why, this.#boot ?? '*', this.#boot);
  }

  /** `stale`: the marker of the life found over (undefined when none was known: a new instance). */
  #reset(why: string, replace: string, stale: string | undefined): void {
    this.resets += 1;
    this.#heard = 0;
    this.#stale = stale;
    this.onReset(why, replace);
  }
}
