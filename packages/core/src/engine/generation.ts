import type { Clock } from '../clock.js';
import { NEXT_GENERATION, RESET_GENERATION } from '../l2/scripts.js';
import type { L2Tier } from '../l2/types.js';
import { waitShared } from '../resilience/bounded-share.js';
import type { Waits } from '../resilience/wait.js';
import { sendGenerationRead } from './generation-read.js';
import { type GenerationWork, MAX_REPAIR_ROWS, type MissedWriteRepair } from './generation-work.js';
import type { KeySpace } from './keys.js';
import type { L2Watch } from './l2-watch.js';
import { IDENTITY_WAIT_MS, type L3Claim } from './l3-claim.js';
import { LiveShapes } from './live-shapes.js';

/** How long a generation read serves before the next one: invalidateAll elsewhere reaches us within it. */
const GENERATION_REFRESH_MS = 5_000;

export type { MissedWriteRepair } from './generation-work.js';

/**
 * A schema's L2 generation (part of every row key), read at most every 5 s so that another
 * instance's invalidateAll reaches this one even without a bus; each read also feeds the
 * {@link L2Watch}. Moving it on is how stale L2 rows are dropped everywhere at once.
 */
export class SchemaGeneration {
  #value: Promise<number> | undefined;
  /** What `#value` resolved to, once it has (undefined while it is out or after it was dropped). */
  #settled: number | undefined;
  #at = 0;
  /** When `#value` was sent (on `waits`: see `#shared`). */
  #sentAt = 0;
  /** The highest generation seen: after a restore the stored one may be older. */
  #highest = 0;
  /** L2 missed a committed write (it was unreachable) that is not sent again: a hard move is due. */
  #missedWrite = false;
  /** Committed writes L2 missed, to send again before the next use (see `recordMissedWrite`). */
  #repairs: MissedWriteRepair[] = [];
  /** How many rows `#repairs` hold. */
  #repairRows = 0;
  /**
   * Those being sent again: every use waits for them, on its own timer (see `#waitRepair`), at most
   * `ms` after `sentAt` (on `waits`): the identity wait and an L2 call for the read, each repair and a move.
   */
  #repairing: GenerationWork | undefined;
  /** Redis was reset since the last move: the boot marker to replace (see `RESET_GENERATION`). */
  #reset: string | undefined;
  /** The keyPrefix is claimed by an app on another database (see `L3Claim`): L2 is refused until a read finds it free. */
  #conflict: Error | undefined;
  /** The app's writer claim as the last generation read found it (see `writerClaim`). */
  #writer: { claim: string; ms: number; sentAt: number } | undefined;
  #counterSeen = false;
  /**
   * Whether the last generation read found the schema's write-behind counter (see `ThroughOrder`):
   * at most 5 s old, and only ever trusted where it says there is one (counters are not removed).
   */
  get counterSeen(): boolean {
    return this.#counterSeen;
  }

  /** The table's other live shapes: every generation read confirms this one and learns them. */
  readonly shapes: LiveShapes;

  constructor(
    readonly l2: L2Tier,
    readonly keys: KeySpace,
    readonly clock: Clock,
    /** Shares of work another call sent run on these (the host's timer: see `hostWaits`). */
    readonly waits: Waits,
    readonly watch: L2Watch,
    readonly claim?: L3Claim,
    /** The claim turned out another database's after reads took L2 unchecked: their loads still out go. */
    readonly onForeign?: () => void,
    /** An L2 call's deadline (`timeouts.l2`): a read out longer is not shared (see `#shared`). */
    readonly l2TimeoutMs = 1_000,
  ) {
    this.shapes = new LiveShapes(keys);
    this.#check = claim?.checkable ? 'due' : 'done';
  }

  /**
   * Whether L2 may hold rows older than acknowledged writes (it missed one, or Redis was reset):
   * the generation then moves on before its next use. Cleared once it has.
   */
  get l2MayBeStale(): boolean {
    return this.#mustMove || this.#repairs.length > 0 || this.#repairing !== undefined;
  }

  /** Only a hard move makes L2 safe again (a reset, or a missed write not sent again). */
  get #mustMove(): boolean {
    return this.#missedWrite || this.#reset !== undefined;
  }

  current(): Promise<number> {
    const told = this.#told();
    if (told) return this.#afterTold(told);
    const now = this.clock.now();
    if (this.#conflict && now - this.#at <= GENERATION_REFRESH_MS) return Promise.reject(this.#conflict);
    if (this.#repairing) {
      const repairing = this.#waitRepair(this.#repairing);
      // Anything missed since those were sent is seen to once they are done.
      if (!this.#mustMove && this.#repairs.length === 0) return repairing;
      const next = () => this.current();
      return repairing.then(next, next);
    }
    // A move writes L2, not before the claim is checked: unchecked, with the identity known, the
    // read below checks it and moves (see `#read`); without the identity, reads go to L3 meanwhile
    // (the move is made by the first checked read or write). A bucket whose first read failed has a
    // move due with the identity known (cluster-capture-relay-buckets.test.ts, a paused shard).
    const unchecked = this.unchecked;
    if (this.#mustMove && !this.#conflict) {
      if (!unchecked) return this.moveOn();
      if (this.claim!.known === undefined) return Promise.reject(this.claim!.notChecked());
    } else if (this.#repairs.length > 0 && !this.#conflict) return this.#repair();
    // Not checked yet (or read unchecked), and L3 has named its database since: read again, the
    // claim checked this time (one read for every caller meanwhile).
    const recheck = unchecked && this.claim?.known !== undefined;
    // Shared on this call's own timer, as any read out (see `#shared`): the request whose fill sent
    // it may have ended since, its EVALSHA cancelled (request-cut-short.test.ts).
    if (recheck && this.#rechecking) return this.#shared(this.#rechecking.done, this.#rechecking.sentAt);
    if (this.#value !== undefined && now - this.#at <= GENERATION_REFRESH_MS && !recheck)
      return this.#settled === undefined ? this.#shared(this.#value, this.#sentAt) : this.#value;
    this.#at = now;
    const sentAt = this.waits.now();
    this.#sentAt = sentAt;
    const read = this.#adopt(
      this.#read().catch((err: unknown) => {
        this.#value = undefined;
        throw err;
      }),
    );
    if (recheck) {
      this.#rechecking = { done: read, sentAt, ms: this.#shareMs, forgets: this.#forgets };
      const done = () => {
        if (this.#rechecking?.done === read) this.#rechecking = undefined;
      };
      read.then(done, done);
    }
    return read;
  }

  /**
   * A generation read another call sent and still out, waited for at most as long as it may take
   * (the identity wait and an L2 call) on this call's own timer; past it, a read of its own. In a
   * Worker the call that sent it may belong to a request that has ended: its fetch cancelled never
   * settles and its deadline timers are dropped, and sharing it would hold every later read.
   */
  #shared(value: Promise<number>, sentAt: number): Promise<number> {
    const again = (): Promise<number> => {
      if (this.#value === value) this.#value = undefined;
      if (this.#rechecking?.done === value) this.#rechecking = undefined;
      return this.current();
    };
    return waitShared(value, sentAt, this.#shareMs, again, this.waits);
  }

  /** How long a generation read or move out is shared: the identity wait and an L2 call. */
  get #shareMs(): number {
    return IDENTITY_WAIT_MS + this.l2TimeoutMs;
  }

  /** The read `current()` sent to check the claim once L3 named its database (see `recheck`). */
  #rechecking: GenerationWork | undefined;

  /** Work out that a `forget()` came during (see `GenerationWork.forgets`), if any. */
  #told(): GenerationWork | undefined {
    const forgets = this.#forgets;
    if (this.#moving && this.#moving.forgets !== forgets) return this.#moving;
    if (this.#repairing && this.#repairing.forgets !== forgets) return this.#repairing;
    return this.#rechecking && this.#rechecking.forgets !== forgets ? this.#rechecking : undefined;
  }

  /**
   * `out`, out when a bus message came, waited for (settled or not: its own caller gets its error) on
   * this call's own timer, then the generation read again: never beside it, nor its result taken.
   * Read beside this instance's own move, Redis could answer first with the generation the other
   * instance's move made before it, kept once the move returned (reorder-move-told.test.ts); joined,
   * missed writes sent again or the claim's read handed out the generation the message orphaned
   * (reorder-share-told.test.ts).
   */
  #afterTold(out: GenerationWork): Promise<number> {
    const settled = out.done.then(
      () => undefined,
      () => undefined,
    );
    return waitShared(settled, out.sentAt, out.ms, () => Promise.resolve(), this.waits).then(() => {
      // Settled, it is no longer out; past its bound, it holds reads no longer.
      out.forgets = this.#forgets;
      return this.current();
    });
  }

  /**
   * The generation `current()` would resolve right now without asking L2 (known, fresh, no move
   * due), or undefined: then await `current()`. Every L2 read asks: an await per read is a turn of
   * the microtask queue on the hit path, for a value that changes at most every few seconds.
   */
  known(): number | undefined {
    const settled = this.#settled;
    // Unchecked (see `checked`): a write awaits checked(); a read, current() (which waits for the
    // identity 200 ms at most, then reads L2 unchecked: see `#read`).
    if (settled === undefined || this.#value === undefined || this.l2MayBeStale || this.unchecked)
      return undefined;
    return this.clock.now() - this.#at > GENERATION_REFRESH_MS ? undefined : settled;
  }

  /**
   * Moves the generation (and the search generation) past every one seen: one request. After a
   * reset, once per Redis life whichever instance does it first (see `RESET_GENERATION`). `soft`
   * (invalidateAll) keeps pending write-behind rows readable, unless a hard move is due anyway
   * (see `GENERATION_ERA`).
   */
  moveOn(soft = false): Promise<number> {
    // Another app's Redis keys: never moved on from here.
    if (this.#conflict) return Promise.reject(this.#conflict);
    // Maybe another app's, for all this instance knows: the claim is checked first (`checked`
    // rejects when L3 does not say which database it is, or another app holds the keyPrefix). Before,
    // a read that went without the identity was taken as the check, and the move read L2 again and
    // again until L3 answered (110 generation reads in 400 ms; packages/core/test/l3-claim.test.ts).
    if (this.unchecked) return this.checked().then(() => this.moveOn(soft));
    // Cleared now so that calls meanwhile share this request; set again if L2 refuses it. Writes
    // waiting to be sent again are not (a soft move would keep older pending rows readable).
    const [missedWrite, reset] = [this.#missedWrite || this.#repairs.length > 0, this.#reset];
    this.#missedWrite = false;
    this.#repairs = [];
    this.#repairRows = 0;
    this.#reset = undefined;
    this.#at = this.clock.now();
    // A read meanwhile shares the move on its send time. With an older one it read the generation
    // beside it, could be answered first, and kept the generation the move left behind for up to
    // 5 s after the move was done (generation-move-race.test.ts).
    this.#sentAt = this.waits.now();
    const keys = [this.keys.generationKey, this.keys.searchGenerationKey];
    const floor = String(this.#highest);
    const moved =
      reset === undefined
        ? this.l2.run(NEXT_GENERATION, keys, [floor, soft && !missedWrite ? '0' : '1']).then(Number)
        : this.l2
            .run(
              RESET_GENERATION,
              [...keys, this.keys.movedKey, this.keys.bootKey],
              [floor, reset, this.watch.newMarker(), missedWrite ? '1' : '0'],
            )
            .then((reply) => {
              const [generation, boot] = Array.isArray(reply) ? reply : [];
              this.watch.adopt(String(boot));
              this.#seen(Number(generation));
              // The reset took the live-shape registry with it: this shape is confirmed live again
              // (a generation read, in the life just adopted) before any write of it goes on. A
              // write of another shape that takes a later version then marks this shape's keys;
              // unconfirmed, it marked none, and this shape's late commit reply put its older row
              // in for good (reliability/test/regression-late-reply-shapes.test.ts).
              return this.#read();
            });
    const move = this.#adopt(
      moved.then(
        (generation) => this.#seen(generation),
        (err: unknown) => {
          this.#missedWrite ||= missedWrite;
          this.#reset ??= reset;
          this.#value = undefined;
          throw err;
        },
      ),
    );
    this.#moving = { done: move, sentAt: this.#sentAt, ms: this.#shareMs, forgets: this.#forgets };
    const done = () => {
      if (this.#moving?.done === move) this.#moving = undefined;
    };
    move.then(done, done);
    return move;
  }

  /** This instance's move out (see `moveOn`). */
  #moving: GenerationWork | undefined;

  /** The last generation read found the keyPrefix claimed by an app on another database (see `L3Claim`). */
  get conflicted(): boolean {
    return this.#conflict !== undefined;
  }

  /**
   * L2 missed a committed write: before the next use it is sent again (`repair`), and only if that
   * fails too (or with no `repair`) does the generation move on, hard: every cached row of the
   * bucket orphaned, pending write-behind rows included: reads then answer those newer than what
   * Postgres holds, from Postgres's side (see orphaned-pending.ts).
   */
  recordMissedWrite(repair?: MissedWriteRepair, rows = 0): void {
    this.#repairRows += rows;
    // Kept in memory until then: past the bound (L2 down through many writes), a hard move.
    if (repair && !this.#missedWrite && this.#repairRows <= MAX_REPAIR_ROWS) this.#repairs.push(repair);
    else {
      this.#missedWrite = true;
      this.#repairs = [];
    }
  }

  /**
   * Sends the missed writes again in the generation read now; resolves to it once L2 took them
   * all. Any of them refused (the generation moved meanwhile, a reset) or failed although the
   * generation read answered: a hard move. When that read fails (L2 still down), they wait for the
   * next use.
   */
  #repair(): Promise<number> {
    const [repairs, rows] = [this.#repairs, this.#repairRows];
    this.#repairs = [];
    this.#repairRows = 0;
    this.#at = this.clock.now();
    const run = async (): Promise<number> => {
      let generation: number;
      try {
        generation = await this.#read();
      } catch (err) {
        this.#value = undefined;
        if (!this.#missedWrite) {
          this.#repairs.unshift(...repairs);
          this.#repairRows += rows;
        }
        throw err;
      }
      for (const repair of repairs) {
        if (await repair(generation)) continue;
        // Refused, or failed (counted by the repair) although the read answered.
        this.#missedWrite = true;
        return this.moveOn();
      }
      return generation;
    };
    const repairing = run();
    const ms = IDENTITY_WAIT_MS + this.l2TimeoutMs * (repairs.length + 3);
    this.#repairing = { done: repairing, sentAt: this.waits.now(), ms, forgets: this.#forgets };
    const done = () => {
      if (this.#repairing?.done === repairing) this.#repairing = undefined;
    };
    repairing.then(done, done);
    return this.#adopt(repairing);
  }

  /**
   * Missed writes another call is sending again, waited for on this call's own timer. In a Worker
   * that call may belong to a request that has ended, its fetch cancelled (never settles): shared
   * without a bound it held every later use of the bucket (request-cut-short.test.ts). Not done in
   * time, they are not known to have landed and no longer wait to be sent: a hard move instead.
   */
  #waitRepair({ done, sentAt, ms }: GenerationWork): Promise<number> {
    return waitShared(
      done,
      sentAt,
      ms,
      () => {
        if (this.#repairing?.done === done) {
          this.#repairing = undefined;
          this.#missedWrite = true;
        }
        return this.current();
      },
      this.waits,
    );
  }

  /** Redis was reset (see `L2Watch`): move on before the next use, once for this Redis life. */
  afterReset(replace: string): void {
    // The first reset's marker stays: a later one found before the move is the same life's.
    this.#reset ??= replace;
  }

  /**
   * Counts `forget()`s: a write script's reply is taken (`set`) only if none came since it was
   * sent (see `set`).
   */
  #forgets = 0;

  /** What a write script passes to `set`: taken before it is sent. */
  get forgets(): number {
    return this.#forgets;
  }

  /**
   * A write script sent when `forgets` was `since` found the generation at `value` (another instance
   * moved it on). Its reply may come back after a newer one, over HTTP: after a move this instance
   * made (`invalidateAll`), told of (a bus message: `forget`) or heard of from a request sent later.
   * It is then not taken (the write is built again in the generation known, or read now): taken, it
   * put the instance back into the generation `invalidateAll` left, whose rows it served and put in
   * L1 (reliability/test/reorder-generation-set.test.ts).
   */
  set(value: number, since: number): void {
    // Told since, below the one known, or a read or move out (sent later, or shared by the next try).
    const overtaken =
      since !== this.#forgets ||
      (this.#value !== undefined && (this.#settled === undefined || value < this.#settled));
    if (overtaken) return;
    const generation = this.#seen(value);
    this.#at = this.clock.now();
    this.#value = Promise.resolve(generation);
    this.#settled = generation;
  }

  /**
   * Another instance ran invalidateAll: the next use reads the generation again, once the work
   * out on it now (a move, a repair, the claim's read) is done (see `#afterTold`).
   */
  forget(): void {
    this.#forgets += 1;
    this.#value = undefined;
    this.#settled = undefined;
  }

  /**
   * Makes `value` the generation's promise; `known()` serves its result once it settles, unless
   * another has replaced it by then (a read that lost the race never overrides a newer value).
   */
  #adopt(value: Promise<number>): Promise<number> {
    this.#value = value;
    this.#settled = undefined;
    value.then(
      (generation) => {
        if (this.#value === value) this.#settled = generation;
      },
      // The rejection reaches the callers of current(); this branch only keeps it handled.
      () => {},
    );
    return value;
  }

  /**
   * The app's writer claim of the table another instance shared (see `WriterClaims`), and how long
   * it is still trusted (ms, counted from when the read that found it was sent: never longer than
   * Redis said), as the latest generation read found it; undefined when none is live. Reads the
   * generation only when it is not known (the write about to be made reads it then anyway): a
   * claim shared within the last 5 s may be missed, and the caller claims in Postgres.
   */
  async writerClaim(): Promise<{ claim: string; ms: number } | undefined> {
    if (this.known() === undefined) await this.current();
    const seen = this.#writer;
    if (!seen) return undefined;
    const ms = seen.ms - (this.clock.now() - seen.sentAt);
    return ms > 0 ? { claim: seen.claim, ms } : undefined;
  }

  /**
   * `current()` once the keyPrefix claim is checked: when no generation read has checked it yet,
   * waits for L3 to say which database it is (`timeouts.l3`), where `current()` waits 200 ms at most
   * (shared) and then reads L2 unchecked (no move, no write). For a write to L2 (a put, a fill, a write-behind write), a
   * read of a schema whose rows live in L2 alone, and the flush (which must never apply another
   * app's queued writes: see flusher.ts `claimedElsewhere`). Rejects with the conflict, as
   * `current()` does, or with `L3Claim.notChecked`: never a generation of an unchecked read. Before,
   * the first read went on unchecked after 200 ms and a write after a failed identity question: an
   * app on another database (or tenant by search_path) on the same keyPrefix read the first app's
   * rows, wrote its rows into the first app's L2 keys and its write-behind writes into the first
   * app's stream, whose flusher applied them to its own table
   * (reliability/test/regression-tenant-paths.test.ts, regression-identity-cold-start.test.ts).
   */
  checked(): Promise<number> {
    if (!this.unchecked) return this.current();
    return this.claim!.learn().then(() => {
      // Not learnt: refused here, not by `#read` (which lets reads take L2 once the question failed).
      if (this.claim!.known === undefined) throw this.claim!.notChecked();
      // A read that went without the identity may still be out, or have been taken: read again, with it.
      if (this.unchecked) this.forget();
      return this.current();
    });
  }

  /**
   * The keyPrefix claim (see `L3Claim`): `due` until a generation read sends L3's identity and finds
   * the keyPrefix free or this app's (`done`; from the start when there is nothing to check: no claim,
   * or an L3 that cannot name its database); `skipped`, a `due` whose last read went without the
   * identity (reads take L2 unchecked: see `#read`). A conflict found checks nothing: `skipped` becomes `due`.
   */
  #check: 'due' | 'skipped' | 'done';

  /** The claim can be checked (L3 names its database: see `L3Claim`) and no generation read has yet. */
  get unchecked(): boolean {
    return this.#check !== 'done';
  }

  /** Reads take L2 unchecked now (the last generation read went without L3's identity: see `onForeign`). */
  get readsUnchecked(): boolean {
    return this.#check === 'skipped';
  }

  async #read(): Promise<number> {
    const identity = this.claim ? await this.claim.identity() : '';
    // Without the identity (the first question past its 200 ms, or failed) a read takes L2 unchecked:
    // cached reads answer through a slow or hanging Postgres (engine-faults.test.ts,
    // faults-neon-http.test.ts). Writes never do: they wait for the check (`checked`) or are refused.
    const floor = this.watch.floor();
    const marker = this.watch.newMarker();
    const sentAt = this.clock.now();
    const reply = (await sendGenerationRead(this.l2, this.keys, marker, identity)) as unknown[];
    const [generation, boot, tick, other, redisNow, live, writer, writerMs, counter, renewed] = Array.isArray(
      reply,
    )
      ? reply
      : [];
    this.#counterSeen = Number(counter) === 1;
    this.watch.observe(String(boot), Number(tick), floor, { renewed: Number(renewed) === 1 });
    this.#writer =
      typeof writer === 'string' && writer !== '' && Number(writerMs) > 0
        ? { claim: writer, ms: Number(writerMs), sentAt }
        : undefined;
    this.shapes.learn(live);
    if (!this.clock.manual) this.watch.observeTime(Number(redisNow), sentAt, this.clock.now());
    // Another database's app holds this keyPrefix: its rows are not ours to serve.
    this.#conflict =
      typeof other === 'string' && other !== '' ? this.claim!.conflict(other, identity) : undefined;
    if (this.#conflict) {
      if (this.#check === 'skipped') {
        this.#check = 'due';
        this.onForeign?.();
      }
      throw this.#conflict;
    }
    // A read sent without the identity and answered after a checked one changes nothing: the
    // keyPrefix is this app's (a conflict needs the identity: only a read that sends it finds one).
    if (identity !== '') this.#check = 'done';
    else if (this.#check === 'due') this.#check = 'skipped';
    // A reset found by this very read: move on now rather than serve the old generation once; not
    // unchecked (a move writes L2): reads go to L3 until a checked read makes it.
    if (this.#mustMove) {
      this.#seen(Number(generation));
      if (this.unchecked) throw this.claim!.notChecked();
      return this.moveOn();
    }
    return this.#seen(Number(generation));
  }

  #seen(generation: number): number {
    if (!Number.isSafeInteger(generation) || generation < 0)
      throw new TypeError('L2: a generation is not an integer');
    this.#highest = Math.max(this.#highest, generation);
    return generation;
  }
}
