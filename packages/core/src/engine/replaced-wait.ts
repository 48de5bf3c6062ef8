import type { OneShot } from '../resilience/wait.js';
import { orAfter } from '../resilience/with-timeout.js';
import { type L2Rows, sendRowRead, tookRows } from './l2-row-reads.js';
import { heldIn } from './l2-values.js';
import type { SchemaCache } from './schema-cache.js';

/**
 * How long, at most, after a Redis reset this instance waits for the writers of the versions the
 * bus told it (see {@link ReplacedWaits}) to put their rows back: one deadline for every key the
 * reset left waiting, counted from when it was found, not per read. Above what a writer that heard
 * the reset needs (its generation read, a Postgres read, a PUT, its queue, a publish: a few round
 * trips), below the 5 s an instance that did not hear it may take to find the reset itself.
 */
export const REPLACED_WAIT_MS = 1_000;

interface Waiting {
  readonly version: number;
  /** Told (a bus message, a flush, a write of this instance) at that version or later. */
  reached: boolean;
  /** Resolves with whether it was told back (not dropped at the deadline). */
  settled?: Promise<boolean>;
  settle?: (told: boolean) => void;
}

/**
 * Keys whose newest write is another instance's, not flushed, whose pending row a Redis reset took
 * (L2 lost it, Postgres has neither that write nor a newer one): this instance forgot its own older
 * write of the key when the bus told the newer one, so until that write's writer puts its row back
 * (`restoreOwnPending`, which it does at once on hearing the reset: see reset-told.ts) a read here
 * would answer what Postgres has, older than this instance's own acknowledged write
 * (reliability/test/regression-restart-superseded-own.test.ts). Its own older row is not put back
 * instead: the newer write may be a delete Postgres already has, and `findMany` cannot date a key
 * it does not hold.
 *
 * So a read of such a key that finds no row of it in L2 at that version or newer waits until the
 * writer says the key is back (its publish after the restore, a flush's, a later write's) or
 * {@link REPLACED_WAIT_MS} after the reset, then reads L2 once more, then reads as ever (a writer
 * that crashed, or one from before this existed, is waited for that long once: Postgres answers
 * after it). Each key waits once. Timed on the engine's waits (`ctx.waits`): time spent, not a TTL.
 */
export class ReplacedWaits {
  readonly #keys = new Map<string, Waiting>();
  #until = 0;
  /** A read's wait ran the deadline out (metric `resetWaitRanOut`): its writer told nothing back. */
  ranOut?: () => void;

  /** `now` and `timer`: the engine's waits (`ctx.waits`); by default the monotonic clock, `setTimeout`. */
  constructor(
    readonly now: () => number = () => performance.now(),
    readonly timer?: OneShot,
  ) {}

  /** How many keys still wait; 0 (and none kept) once the deadline has passed. */
  get size(): number {
    if (this.#keys.size > 0 && this.now() >= this.#until) this.#clear();
    return this.#keys.size;
  }

  /** After a reset: `told` (key, version) wait, until {@link REPLACED_WAIT_MS} from now. */
  expect(told: readonly (readonly [string, number])[], ms = REPLACED_WAIT_MS): void {
    if (told.length === 0) return;
    this.#until = this.now() + ms;
    for (const [key, version] of told) this.#keys.set(key, { version, reached: false });
  }

  /** The version `key` waits for, or undefined. */
  version(key: string): number | undefined {
    return this.#keys.get(key)?.version;
  }

  /** Whether `key` was told back since it began to wait (see {@link reached}). */
  wasReached(key: string): boolean {
    return this.#keys.get(key)?.reached === true;
  }

  /** `key` is at `version` somewhere now (L2, Postgres): a read of it waits no more. */
  reached(key: string, version: number): void {
    const w = this.#keys.get(key);
    if (!w || w.reached || version < w.version) return;
    w.reached = true;
    w.settle?.(true);
  }

  /** `key` was read past its wait: it never waits again (until a later reset). */
  done(key: string): void {
    this.#keys.get(key)?.settle?.(true);
    this.#keys.delete(key);
  }

  /**
   * Resolves once every key of `keys` (every key that waits, when undefined: a search cannot know
   * which it will match) was reached or the deadline passed; never rejects.
   */
  async wait(keys?: readonly string[]): Promise<void> {
    const left = this.#until - this.now();
    if (left <= 0) return;
    const all = (keys ?? [...this.#keys.keys()]).flatMap((key) => {
      const w = this.#keys.get(key);
      if (!w || w.reached) return [];
      w.settled ??= new Promise<boolean>((resolve) => {
        w.settle = resolve;
      });
      return [w.settled];
    });
    const told =
      all.length === 0 ||
      (await orAfter(
        Promise.all(all).then((t) => !t.includes(false)),
        left,
        false,
        this.timer,
      ));
    if (!told) this.ranOut?.();
  }

  #clear(): void {
    for (const w of this.#keys.values()) w.settle?.(false);
    this.#keys.clear();
  }
}

/**
 * What a read of `keys` takes from L2, given `reply` (`sendRowRead`'s): `reply` itself unless a
 * key waits (see {@link ReplacedWaits}) and L2 holds it below the version it waits for, or a settle
 * runs (see `ResetSettle`) and L2 holds no row of a key that waits for no version; then, once those
 * were told back, the settle ended or the deadline passed, L2 read once more. Only while keys wait
 * or a settle runs (a Redis reset ago, at most {@link REPLACED_WAIT_MS}): no other read comes here.
 */
export async function readPastReplaced(
  cache: SchemaCache,
  keys: readonly string[],
  reply: L2Rows,
): Promise<L2Rows> {
  const { waits, settle } = cache.ownPending!;
  const settling = settle.active;
  let again = false;
  let missed = false;
  const wait: string[] = [];
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const version = waits.version(key);
    const held = () => heldIn(cache, reply.values[i + 1] ?? null, reply.generations?.[i] ?? reply.generation);
    if (version === undefined) {
      // Another writer's restore may bring it (its message lost with Redis: nothing told it here).
      if (settling && !missed && held() === 0) missed = true;
      continue;
    }
    if (held() >= version) waits.done(key);
    // Told back after this read was sent (its reply may be from before): read again, no wait.
    else if (waits.wasReached(key)) again = true;
    else wait.push(key);
  }
  if (wait.length > 0 || missed) {
    await Promise.all([wait.length > 0 && waits.wait(wait), missed && settle.wait()]);
    again = true;
  }
  if (!again) return reply;
  for (const key of keys) if (waits.version(key) !== undefined) waits.done(key);
  const read = sendRowRead(cache, keys);
  if (read instanceof Promise) return read;
  return tookRows(cache, read, await read.values);
}
