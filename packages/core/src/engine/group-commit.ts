/** One caller's items, waiting for the batch that carries them. */
interface Waiter<I, O> {
  readonly items: readonly I[];
  readonly resolve: (out: O[]) => void;
  readonly reject: (err: unknown) => void;
  /** Makes this caller the one that sends the next batch (in its own async context: see `submit`). */
  readonly lead: () => void;
}

/**
 * Group commit: the calls submitted while a batch is out go together as the next one, one `run`
 * for all their items (in call order), each caller resolving its own slice of the outputs or
 * rejecting with the batch's error. A call when nothing is out waits for no timer: its batch leaves
 * one microtask later (with the calls that reached `submit` before then). At most
 * `maxItems` items per batch unless one call alone has more (it then goes alone); batches leave one
 * at a time, so a later batch never overtakes an earlier one.
 *
 * A batch that fails with an error `isolated` says belongs to one caller's items (not the tier's
 * health) runs again call by call, in order, so that no caller fails for another's items. `run`
 * must then leave nothing behind when it fails, and resolve an array of its own each time (a batch
 * of one caller hands it over as it is).
 *
 * @example
 * const commits = new GroupCommit((rows: Row[]) => writeAll(rows), 256, () => false);
 * const [stored] = await commits.submit([row]);
 */
export class GroupCommit<I, O> {
  readonly #waiting: Waiter<I, O>[] = [];
  #busy = false;

  constructor(
    private readonly run: (items: readonly I[]) => Promise<readonly O[]>,
    private readonly maxItems: number,
    private readonly isolated: (err: unknown) => boolean,
  ) {}

  submit(items: readonly I[]): Promise<O[]> {
    return new Promise<O[]>((resolve, reject) => {
      let lead!: () => void;
      // Registered now, in the caller's async context: the batch this caller sends (its L2 call's
      // tracing span, say) belongs to the caller's operation, not to whichever batch came before.
      void new Promise<void>((r) => {
        lead = r;
      }).then(this.#send);
      this.#waiting.push({ items, resolve, reject, lead });
      if (!this.#busy) {
        this.#busy = true;
        lead();
      }
    });
  }

  readonly #send = async (): Promise<void> => {
    const batch = this.#take();
    try {
      if (batch.length === 1) await this.#one(batch[0]!);
      else if (!(await this.#all(batch))) for (const w of batch) await this.#one(w);
    } finally {
      const next = this.#waiting[0];
      if (next) next.lead();
      else this.#busy = false;
    }
  };

  /** Whether the batch went as one (settling every caller); false: its error is `isolated`, none settled. */
  async #all(batch: readonly Waiter<I, O>[]): Promise<boolean> {
    let out: readonly O[];
    try {
      out = await this.run(batch.flatMap((w) => w.items));
    } catch (err) {
      if (this.isolated(err)) return false;
      for (const w of batch) w.reject(err);
      return true;
    }
    let at = 0;
    for (const w of batch) {
      w.resolve(out.slice(at, at + w.items.length));
      at += w.items.length;
    }
    return true;
  }

  /**
   * One caller's items alone, settling it with their outputs or error. No async frame of its own
   * (one call at a time, the usual case, runs every batch through here): the run's promise settles
   * the caller directly, as `run` hands back an array of its own each time.
   */
  #one(w: Waiter<I, O>): Promise<void> {
    let running: Promise<readonly O[]>;
    try {
      running = this.run(w.items);
    } catch (err) {
      w.reject(err);
      return Promise.resolve();
    }
    return running.then(w.resolve as (out: readonly O[]) => void, w.reject);
  }

  /** The calls of the next batch: the first waiting, then the next ones while they fit `maxItems`. */
  #take(): Waiter<I, O>[] {
    let n = this.#waiting[0]!.items.length;
    let end = 1;
    while (end < this.#waiting.length && n + this.#waiting[end]!.items.length <= this.maxItems) {
      n += this.#waiting[end]!.items.length;
      end += 1;
    }
    return this.#waiting.splice(0, end);
  }
}
