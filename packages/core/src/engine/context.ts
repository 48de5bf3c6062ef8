import type { ResolvedConfig } from '../config.js';
import { isStrataError, messageOf, StrataError } from '../errors.js';
import {
  inputErrorNames,
  isInputPgError,
  type PgOp,
  pgErrorRule,
  pgSqlMessage,
  sqlStateOf,
} from '../l3/pg-errors.js';
import { noopMetrics, type Tier } from '../observability/metrics.js';
import { noopTracing } from '../observability/tracing.js';
import { hostWaits, type Waits } from '../resilience/wait.js';
import { orAfter } from '../resilience/with-timeout.js';
import type { Counters } from './stats.js';
import { WriterClaims } from './writer-claim.js';

/** Rounds of `settled()`: deeper than core's longest chain of deferred work (work, its defer, that one's). */
const SETTLE_ROUNDS = 4;

/** What the read and write paths share: config, counters and the error policy. */
export class EngineContext {
  /** Work not awaited by its caller (background 'track' or the host's waitUntil), until it settles: when it began. */
  readonly #inFlight = new Map<Promise<unknown>, number>();
  /** Which app writes each table (see `WriterClaims`): claimed before a write, renewed by flushes. */
  readonly claims = new WriterClaims(this);
  /** Set as `close()` begins: work that would try again later (a failed restore) does not. */
  closing = false;
  /** Write-behind writes of unknown outcome the queue did not take, being settled (see `settleUnqueued`). */
  readonly unqueued = new Set<Promise<void>>();

  /** Core's waits: on the host's timer, counted on the engine's clock (see `hostWaits`). */
  readonly waits: Waits;

  constructor(
    readonly config: ResolvedConfig,
    readonly counters: Counters,
  ) {
    this.waits = hostWaits(config);
  }

  // The label object is skipped when nobody records: an L1 hit is ~100 ns, and this was GC pressure.
  hit(tier: Tier, schema: string): void {
    this.counters.hits[tier] += 1;
    if (this.config.metrics !== noopMetrics) this.config.metrics.count('hit', { schema, tier });
  }

  miss(tier: Tier, schema: string): void {
    this.counters.misses[tier] += 1;
    if (this.config.metrics !== noopMetrics) this.config.metrics.count('miss', { schema, tier });
    // The read's span learns it went below `tier` (a hit needs no note: no call, no miss is L1's).
    const { tracing } = this.config;
    if (tracing !== noopTracing) tracing.instruments?.noteMiss(tracing, tier, this.config);
  }

  /**
   * A read answered with a row past its freshness: stale-while-revalidate, or `grace` while the
   * source failed. Counted, and its span's `strata.stale` is true.
   */
  servedStale(grace = false): void {
    if (grace) this.counters.graceHits += 1;
    else this.counters.staleHits += 1;
    const { tracing } = this.config;
    if (tracing !== noopTracing) tracing.instruments?.noteStale(tracing);
  }

  /**
   * Counts and logs a tier failure that the caller survives (L2 down -> fall back); never silent.
   * `fields` go into the log line (e.g. the buckets a write missed): one failure, one count.
   */
  tolerate(schema: string, tier: Tier, op: string, err: unknown, fields?: Record<string, unknown>): void {
    this.#noteFailure(schema, tier, op, err, 'continuing without it', fields);
  }

  /** Counts and logs a tier failure that refuses the call (it throws; nothing was written). */
  refuse(schema: string, tier: Tier, op: string, err: unknown): void {
    this.#noteFailure(schema, tier, op, err, 'the call is refused');
  }

  #noteFailure(
    schema: string,
    tier: Tier,
    op: string,
    err: unknown,
    outcome: string,
    fields?: Record<string, unknown>,
  ): void {
    this.counters.error(tier);
    this.config.metrics.count('error', { schema, tier, op });
    this.config.logger.warn(`${tier} ${op} failed; ${outcome}`, {
      schema,
      code: isStrataError(err) ? err.code : undefined,
      error: messageOf(err),
      ...fields,
    });
  }

  /**
   * Runs deferred work: awaited with `background: 'await'` (the default); else the caller returns
   * at once and the work is tracked (see `track`). Its failure is tolerated.
   */
  async defer(schema: string, tier: Tier, op: string, work: () => Promise<unknown>): Promise<void> {
    const guarded = work().then(
      () => undefined,
      (err: unknown) => this.tolerate(schema, tier, op, err),
    );
    if (this.config.background === 'await') return guarded;
    this.track(guarded);
  }

  /**
   * Runs work off the caller's path whatever `background` says (a stale read's refresh must not
   * make its caller wait): tracked, handed to the host's `waitUntil`, its failure tolerated.
   */
  detach(schema: string, tier: Tier, op: string, work: Promise<unknown>): void {
    this.track(
      work.then(
        () => undefined,
        (err: unknown) => this.tolerate(schema, tier, op, err),
      ),
    );
  }

  /**
   * Work nobody awaits (it must never reject): `settled()` waits for it until it settles, and a host
   * `waitUntil` given as `background` is handed it, so the runtime keeps the request alive for it.
   */
  track(work: Promise<unknown>): void {
    this.#inFlight.set(work, this.waits.now());
    void work.finally(() => this.#inFlight.delete(work));
    const { background } = this.config;
    if (typeof background === 'function') background(work);
  }

  /**
   * Resolves once the deferred work in flight now has settled, and what that work deferred in turn
   * (a stale refresh's L2 fill, a late write's publish): a host hands this to `waitUntil` once per
   * request, and work left out of it may be stopped with the isolate. Work other calls deferred
   * meanwhile cannot be told apart and is waited for too, for at most SETTLE_ROUNDS rounds.
   *
   * Each piece at most until it is past the longest deferred work takes (two L2 calls and an L3
   * call, each within its deadline), then no more: in a Worker, work a request left running when it
   * ended was cut short with it (a cancelled fetch never settles, its deadline timer never fires),
   * and waiting for it would hold every later request's `settled()` (a queue() batch's flush too).
   */
  async settled(): Promise<void> {
    const { l2, l3 } = this.config.timeouts;
    for (let round = 0; round < SETTLE_ROUNDS && this.#inFlight.size > 0; round++) {
      const now = this.waits.now();
      let until = now;
      for (const [work, at] of this.#inFlight) {
        if (now - at >= l3 + 2 * l2) this.#inFlight.delete(work);
        else until = Math.max(until, at + l3 + 2 * l2);
      }
      if (this.#inFlight.size === 0) return;
      await orAfter<unknown>(Promise.all(this.#inFlight.keys()), until - now, undefined, this.waits.timer);
    }
  }

  /**
   * An L3 read sent again because its connection was lost (engine/read-retry.ts): counted
   * (`stats().l3ReadRetries`, metric `retry`) and logged, so a flapping network shows before reads fail.
   */
  retriedRead(op: string, schema: string, err: unknown): void {
    this.counters.l3ReadRetries += 1;
    this.config.metrics.count('retry', { schema, tier: 'l3', op });
    this.config.logger.warn(`l3 ${op}: connection lost, retried`, { schema, error: messageOf(err) });
  }

  /**
   * Counts a failed L3 call: among the tier errors, or as `rejected` when Postgres refused the
   * caller's input (a taken unique value is the caller's to fix, not a failing tier).
   */
  countL3Failure(err: unknown, labels?: { schema: string; tier: 'l3'; op: string }): void {
    const input = isInputPgError(err);
    if (input) this.counters.rejected += 1;
    else this.counters.error('l3');
    if (labels) this.config.metrics.count(input ? 'rejected' : 'error', labels);
  }

  /**
   * L3 errors as Strata errors, by SQLSTATE (l3/pg-errors.ts): input errors are the caller's
   * (VALIDATION_FAILED, INVALID_QUERY, MISSING_PRIMARY_KEY), a table that does not match its schema
   * is INVALID_MODEL, the rest unavailability.
   */
  l3Error(schema: string, op: string, err: unknown): StrataError {
    this.countL3Failure(err, { schema, tier: 'l3', op });
    if (isStrataError(err) && err.code !== 'TIMEOUT') return err;
    // An op not listed keeps the old rule (22/23 are the row's): new callers should be added here.
    const kind: PgOp =
      op === 'get' || op === 'getMany' || op === 'exists' || op === 'warm'
        ? 'read'
        : op === 'search' || op === 'count'
          ? 'query'
          : 'write';
    const rule = pgErrorRule(err, kind);
    const sqlstate = sqlStateOf(err);
    const details = { schema, ...(sqlstate !== undefined && { sqlstate }) };
    if (rule.code === 'L3_UNAVAILABLE') {
      this.config.logger.error(`l3 ${op} failed`, {
        schema,
        ...(sqlstate !== undefined && { sqlstate }),
        error: messageOf(err),
      });
      return new StrataError('L3_UNAVAILABLE', `schema ${schema}: L3 ${op} failed`, { cause: err, details });
    }
    const names = inputErrorNames(err);
    const sqlMessage =
      pgSqlMessage(err) ??
      (names.constraint ? `constraint ${names.constraint}` : names.column && `column ${names.column}`);
    const message = `schema ${schema}: Postgres refused the ${op} (${sqlstate}): ${rule.why}`;
    return new StrataError(rule.code, sqlMessage ? `${message}: ${sqlMessage}` : message, {
      cause: err,
      details: { ...details, ...names },
    });
  }
}
