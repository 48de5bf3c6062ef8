import { DUE_PEEK } from '../l2/due-script.js';
import { notRun } from '../l2/not-run.js';
import type { Delivery, QueuedWrite } from '../queue/types.js';
import { wait } from '../resilience/wait.js';
import type { EngineContext } from './context.js';
import type { FlushOutcome } from './flusher.js';
import type { SchemaCache } from './schema-cache.js';

/*
 * A write-behind write whose L2 script timed out, with a queue that is not part of that script (the
 * memory queue, Cloudflare Queues, a Redis Stream on another Redis): the script may have run (its
 * reply held or lost) or may still run (the request held on the wire), and only its reply would have
 * said so. So the script carries a deadline on Redis' own clock (`due`, ORDERED_PUT refuses to write
 * past it), and the caller queues the write anyway, *conditional*: version -1 (an older consumer
 * refuses it as malformed rather than applying a write that may never have landed) and `until` = the
 * deadline. Its flush reads Redis' clock and the key's pending index entry in one request: once
 * Redis' clock is past `until` no script of that write can still write, so the entry is final; an
 * entry holding this write's row (kind and row, as the script indexes it) means the script ran, and
 * the write is flushed at that entry's version like any other; anything else (no entry, another
 * row: a newer write replaced it and carries or replaces its columns) drops it. No instance's clock
 * decides: Redis' clock is read by the script and by the flush alike; the writer's estimate of it
 * only sets how long the answer takes to be final.
 */

/**
 * A write-behind batch's script, as sent: `afterMs`, its deadline after its send (none when the queue
 * is in the script: its rows and entries land together or not at all); `at`, the latest deadline
 * sent (Redis' ms); `out`, how many of its scripts may have written (see `watchReply`): while none
 * may have, a failure is a write known not to have landed (a generation read's before any left, a
 * refusal to send, a reply saying nothing was written); else its outcome is unknown.
 */
export interface Due {
  readonly afterMs?: number;
  at?: number;
  out?: number;
}

/**
 * Counts a script just sent in `due.out` until its reply says it wrote nothing (any status but 0) or
 * its failure says it never ran (`notRun`). A timeout, a connection cut after the request was
 * written, a lost HTTP reply: it stays counted, as does a script that wrote (a later failure of the
 * same call, such as a second attempt's, leaves its rows).
 */
export function watchReply(due: Due, sent: Promise<unknown>): void {
  due.out = (due.out ?? 0) + 1;
  sent.then(
    (reply) => {
      if (Number((reply as unknown[])[1]) !== 0) due.out! -= 1;
    },
    (err: unknown) => {
      if (notRun(err)) due.out! -= 1;
    },
  );
}

/**
 * How long after its send a write-behind script may still write: its caller's L2 timeout and this
 * much more, so that an estimate of Redis' clock off by up to that much (half a round trip when it
 * was read, and drift since) never refuses a script that arrived in time.
 */
export const DUE_SLACK_MS = 1_000;

/**
 * ORDERED_PUT's ARGV[2] with its deadline, `{floor}:{due}`, recorded in `due.at`. On Redis' clock as
 * this instance estimates it; with a manual clock (tests, which do not measure Redis' clock against
 * it) this host's own.
 */
export function dueArg(cache: SchemaCache, floor: number, due: Due): string {
  if (due.afterMs === undefined) return String(floor);
  const now = cache.config.clock.manual ? Date.now() : cache.l2Now();
  const at = Math.ceil(now + due.afterMs);
  due.at = Math.max(due.at ?? 0, at);
  return `${floor}:${at}`;
}

/**
 * The longest a flush waits for a conditional write's deadline before it asks again: at least this,
 * and as long as a deadline this instance sets can be away (`timeouts.l2` + `DUE_SLACK_MS`), so that
 * a write queued at once (its reply lost) is settled after one wait. A deadline farther off (a
 * producer with a longer L2 timeout, or a skewed estimate of Redis' clock) is waited for in steps
 * this long, one ask per step: a round asks, waits a step short of the deadline and leaves the write
 * retried without asking again (the answer would be the one it had, a step less ahead), so the next
 * round's ask is the one after the step; never two back to back.
 */
const MAX_WAIT_MS = 10_000;

/**
 * Settles the conditional writes among `deliveries` (see above): returns the deliveries to flush, a
 * conditional one that landed as its write at its version; one that did not is acked (counted in
 * `conditionalDropped`). One L2 request per such write (they are rare: a timeout each), and where
 * Redis' clock is not past a deadline yet, a wait until it is (at most `MAX_WAIT_MS` or the
 * deadline this instance's `timeouts.l2` gives, whichever is longer), then asked again once if the
 * wait reached it. Undecided (a deadline still ahead): retried; L2 unreachable: retried, `held` and
 * `withdrawing` (the flush cannot judge them: `flushDirty` says L2_UNAVAILABLE rather than loop).
 */
export async function settleConditional(
  ctx: EngineContext,
  cacheOf: (write: QueuedWrite) => SchemaCache | undefined,
  deliveries: readonly Delivery[],
  outcome: FlushOutcome,
): Promise<readonly Delivery[]> {
  if (!deliveries.some((d) => d.write.conditional)) return deliveries;
  return (
    await Promise.all(
      deliveries.map(async (d): Promise<Delivery[]> => {
        const cache = d.write.conditional && cacheOf(d.write);
        // Unconditional, or another app's or an unknown schema's: as it is (the flush leaves it to its app).
        if (!cache?.l2) return [d];
        let version: number | undefined | null;
        try {
          version = await landed(
            ctx,
            cache,
            d.write,
            Math.max(MAX_WAIT_MS, ctx.config.timeouts.l2 + DUE_SLACK_MS),
          );
        } catch (err) {
          ctx.tolerate(cache.schema.name, 'l2', 'settle conditional write', err);
          outcome.held.push(d.handle);
          outcome.withdrawing.push(d.handle);
          version = null;
        }
        if (version === null) outcome.retried.push(d.handle);
        else if (version === undefined) {
          outcome.acked.push(d.handle);
          ctx.counters.conditionalDropped += 1;
        } else {
          const { conditional: _, ...write } = d.write;
          return [{ ...d, write: { ...write, version } }];
        }
        return [];
      }),
    )
  ).flat();
}

/**
 * The version `write` (conditional) landed at, undefined when it did not (or a newer write
 * replaced it), null while Redis' clock is not past its deadline: after one wait of at most
 * `waitMs`, asked again only when that wait reached the deadline (one ask per wait).
 */
export async function landed(
  ctx: EngineContext,
  cache: SchemaCache,
  write: QueuedWrite,
  waitMs: number,
): Promise<number | undefined | null> {
  const space = cache.router.of(write.id);
  for (let waited = false; ; waited = true) {
    const [now, entry] = (await cache.l2!.run(DUE_PEEK, [space.pendingIndex, space.row(write.id)], [])) as [
      number,
      unknown,
    ];
    const ahead = write.conditional!.until - Number(now) + 1;
    if (ahead <= 0) {
      // Its entry (`{version};{kind};{row}`) when it is this write's: a set's row, or a delete.
      const match = typeof entry === 'string' && /^(\d+);([ra]);/.exec(entry);
      const row = match && entry.slice(match[0].length);
      const mine =
        match && (write.op === 'set' ? match[2] === 'r' && row === write.row : match[2] === 'a' && !row);
      return mine ? Number(match[1]) : undefined;
    }
    // Still ahead after a wait that reached it (Redis' clock behind this host's): the next round's.
    if (waited) return null;
    // A step short of the deadline: not asked again after it (see MAX_WAIT_MS).
    if (ahead > waitMs) {
      await wait(ctx, waitMs);
      return null;
    }
    await wait(ctx, ahead);
  }
}
