import type { OneShot } from '../resilience/wait.js';
import { orAfter } from '../resilience/with-timeout.js';
import { REPLACED_WAIT_MS } from './replaced-wait.js';

/** Peers kept per schema at most (origins are the bus' word): the oldest answer goes first past it. */
export const MAX_PEERS = 1_024;

/**
 * The settle after a Redis reset, per write-behind schema: the instances of this app that hold
 * unflushed writes put them back once they find the reset (`restoreOwnPending`), which is after
 * this instance may have found it. The bus told this instance of those writes, except when the
 * restart itself took the message (pub/sub delivers at most once; a SIGKILL drops what the server
 * had not sent): this instance then knew of nothing to wait for (`HeardVersions`, `ReplacedWaits`),
 * read Postgres, and answered below a write already acknowledged (model-deployments write-behind,
 * seed 7306; reliability/test/regression-restart-lost-message.test.ts).
 *
 * So every write-behind instance answers a reset it finds with a restore message (`restored`: its
 * restore's keys, or none), which names the Redis life it restored into (its `ticks`), and each
 * instance keeps the peers (origins) that answered and the life they answered in. Once it finds a
 * reset itself ({@link begin}), a read that misses L2 waits until every peer it knows answered in
 * the life it is in now, or {@link REPLACED_WAIT_MS} passed, then reads L2 once more (see
 * `readPastReplaced`). A reader knows the peers it heard from: their answers, asks and writes'
 * messages ({@link heard}); one whose every message was lost it cannot wait for. With none known,
 * the first answer ends the settle when it completes the set, and with none at all (a lone
 * instance) the settle runs its bound. A peer that does not answer a reset within the bound
 * (stopped, crashed, a version from before this) is forgotten then: it costs one settle's bound,
 * not every one.
 *
 * An answer published while a peer's subscription is down is lost to it (it found the reset by
 * then, or finds it later, and would wait the bound for an answer already sent:
 * reliability/test/regression-settle-answer-unheard.test.ts). So an instance whose subscription
 * comes back (a bus gap) asks (`ask`), and every peer that answered in the life it is in now
 * answers again ({@link answeredNow}): whichever of the two came back last, the answer is then
 * sent while both listen.
 *
 * Costs nothing outside a settle: {@link active} is one comparison while none runs.
 */
export class ResetSettle {
  /** Known peers: the lives their last answer named (per bucket, `{boot}:{tick}`; none yet: `[]`). */
  readonly #peers = new Map<string, readonly string[]>();
  /** When the running settle ends at the latest (on `now`); 0 when none runs. */
  #until = 0;
  /** Resolves with whether the bound ended the settle (not its answers). */
  #ended: Promise<boolean> | undefined;
  /** What this instance's last answer named (`{boot}:{tick}` per bucket); none before its first. */
  #said: readonly string[] = [];
  #end: ((timedOut: boolean) => void) | undefined;
  /** A read's wait for the settle ran its bound out (metric `resetWaitRanOut`): a peer did not answer. */
  ranOut?: () => void;

  /**
   * `lives`: this instance's Redis life per bucket (`L2Watch.life`), what a peer's answer must name;
   * `now` and `timer`: the engine's waits (`ctx.waits`), by default the monotonic clock, `setTimeout`.
   */
  constructor(
    readonly lives: () => readonly (string | undefined)[],
    readonly now: () => number = () => performance.now(),
    readonly timer?: OneShot,
  ) {}

  /** This instance found a reset: reads that miss L2 wait (see the class), `ms` at most. */
  begin(ms = REPLACED_WAIT_MS): void {
    this.#until = this.now() + ms;
  }

  /** Whether a settle runs (and some peer has not answered it yet). */
  get active(): boolean {
    if (this.#until === 0) return false;
    if (this.now() >= this.#until) this.#finish(true);
    else if (this.#allAnswered()) this.#finish(false);
    return this.#until !== 0;
  }

  /**
   * `origin` wrote to this schema (a write's message) or asked for answers: a peer whose answer a
   * settle waits for from now on, unless it is known already. Before, only answers made peers: a
   * reader that knew another peer but had never heard a writer answer (one that started since the
   * last reset) ended its settle on the other's answer, and read Postgres below the writer's write
   * whose message the restart took (reliability/test/regression-settle-unknown-writer.test.ts).
   */
  heard(origin: string): void {
    if (this.#peers.has(origin)) return;
    this.#peers.set(origin, []);
    if (this.#peers.size > MAX_PEERS) this.#peers.delete(this.#peers.keys().next().value!);
  }

  /** `origin` answered a reset, restored into the life `ticks` names (a restore message). */
  answered(origin: string, ticks: readonly string[] | undefined): void {
    this.#peers.delete(origin);
    this.#peers.set(origin, ticks ?? []);
    if (this.#peers.size > MAX_PEERS) this.#peers.delete(this.#peers.keys().next().value!);
    if (this.#until !== 0 && this.#allAnswered()) this.#finish(false);
  }

  /** This instance answered a reset, in the life `ticks` names (see `publishRestored`). */
  said(ticks: readonly string[]): void {
    this.#said = ticks;
  }

  /** Whether this instance answered a reset in the life it is in now: it answers an ask again. */
  get answeredNow(): boolean {
    const lives = this.lives();
    return this.#said.length > 0 && lives.every((life, b) => sameLife(this.#said[b], life));
  }

  /** Resolves when the settle ends (every peer answered, or its bound); never rejects. */
  async wait(): Promise<void> {
    if (!this.active) return;
    this.#ended ??= new Promise<boolean>((resolve) => {
      this.#end = resolve;
    });
    if (await orAfter(this.#ended, this.#until - this.now(), true, this.timer)) this.ranOut?.();
    // Past the bound: ended (and the peers that did not answer forgotten) by `active`.
    void this.active;
  }

  get peers(): number {
    return this.#peers.size;
  }

  #allAnswered(): boolean {
    if (this.#peers.size === 0) return false;
    const lives = this.lives();
    for (const ticks of this.#peers.values())
      if (!lives.every((life, b) => sameLife(ticks[b], life))) return false;
    return true;
  }

  /** `timedOut`: the peers that did not answer in this life are forgotten (see the class). */
  #finish(timedOut: boolean): void {
    if (timedOut) {
      const lives = this.lives();
      for (const [origin, ticks] of this.#peers)
        if (!lives.every((life, b) => sameLife(ticks[b], life))) this.#peers.delete(origin);
    }
    this.#until = 0;
    this.#end?.(timedOut);
    this.#ended = undefined;
    this.#end = undefined;
  }
}

/** Whether `told` (`{boot}:{tick}`, see `L2Watch.told`) is of the life whose marker is `boot`. */
export function sameLife(told: string | undefined, boot: string | undefined): boolean {
  if (!told || boot === undefined) return false;
  return told.slice(0, told.lastIndexOf(':')) === boot;
}
