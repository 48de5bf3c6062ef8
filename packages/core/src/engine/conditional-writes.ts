import { isStrataError } from '../errors.js';
import { DUE_PEEK } from '../l2/due-script.js';
import type { Delivery, QueuedWrite } from '../queue/types.js';
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
 * sent (Redis' ms); `sent`, whether a script left at all (a timeout before it, such as a generation
 * read's, is a write known not to have landed).
 */
export interface Due {
  readonly afterMs?: number;
  at?: number;
  sent?: boolean;
}

/**
 * How long after its send a write-behind script may still write: its caller's L2 timeout and this
 * much more, so that an estimate of Redis' clock off by up to that much (half a round trip when it
 * was read, and drift since) never refuses a script that arrived in time.
 */
const DUE_SLACK_MS = 1_000;

/** The deadline of a write-behind script of `cache` (only its timed-out attempt's is ever used). */
export function dueOf(cache: SchemaCache, scripted: boolean): Due {
  return scripted ? {} : { afterMs: cache.config.timeouts.l2 + DUE_SLACK_MS };
}

/**
 * ORDERED_PUT's ARGV[2] with its deadline, `{floor}:{due}`, recorded in `due.at`. On Redis' clock as
 * this instance estimates it; with a manual clock (tests, which do not measure Redis' clock against
 * it) this host's own.
 */
export function dueArg(cache: SchemaCache, floor: number, due: Due): string {
  due.sent = true;
  if (due.afterMs === undefined) return String(floor);
  const now = cache.config.clock.manual ? Date.now() : cache.l2Now();
  const at = Math.ceil(now + due.afterMs);
  due.at = Math.max(due.at ?? 0, at);
  return `${floor}:${at}`;
}

/** Whether a failed write-behind script may have run all the same: its L2 call timed out. */
export function scriptOutcomeUnknown(err: unknown): boolean {
  return isStrataError(err, 'L2_UNAVAILABLE') && err.details?.reason === 'timeout';
}

/** `writes` (their versions unknown) as conditional writes, settled once Redis' clock is past `until`. */
export function conditional(writes: readonly QueuedWrite[], until: number): QueuedWrite[] {
  return writes.map((w) => ({ ...w, version: -1, conditional: { until } }));
}

/** The longest a flush waits for a conditional write's deadline before it lets the write come back. */
const MAX_WAIT_MS = 10_000;

/**
 * Settles the conditional writes among `deliveries` (see above): returns the deliveries to flush, a
 * conditional one that landed as its write at its version; one that did not is acked (counted in
 * `conditionalDropped`, logged). One L2 request per schema with such writes, and, where Redis' clock
 * is not past a deadline yet, a wait until it is (at most `MAX_WAIT_MS`, then asked again once).
 * Undecided (L2 unreachable, a deadline still ahead): retried, and `held` + `withdrawing` when L2
 * failed (the flush cannot judge them: `flushDirty` says L2_UNAVAILABLE rather than loop).
 */
export async function settleConditional(
  ctx: EngineContext,
  cacheOf: (write: QueuedWrite) => SchemaCache | undefined,
  deliveries: readonly Delivery[],
  outcome: FlushOutcome,
): Promise<readonly Delivery[]> {
  if (!deliveries.some((d) => d.write.conditional)) return deliveries;
  const byCache = new Map<SchemaCache, Delivery[]>();
  const out: Delivery[] = [];
  for (const d of deliveries) {
    const cache = d.write.conditional ? cacheOf(d.write) : undefined;
    // Another app's or an unknown schema's: left as it is (the flush leaves it to its app).
    if (!cache?.l2) out.push(d);
    else byCache.set(cache, [...(byCache.get(cache) ?? []), d]);
  }
  for (const [cache, group] of byCache) {
    let decided: Map<string, number | undefined> | undefined;
    try {
      decided = await decide(cache, group);
    } catch (err) {
      ctx.tolerate(cache.schema.name, 'l2', 'settle conditional writes', err);
      for (const d of group) {
        outcome.retried.push(d.handle);
        outcome.held.push(d.handle);
        outcome.withdrawing.push(d.handle);
      }
      continue;
    }
    for (const d of group) {
      if (!decided.has(d.handle)) {
        outcome.retried.push(d.handle);
        continue;
      }
      const version = decided.get(d.handle);
      if (version !== undefined) {
        const { conditional: _, ...write } = d.write;
        out.push({ ...d, write: { ...write, version } });
        continue;
      }
      outcome.acked.push(d.handle);
      ctx.counters.conditionalDropped += 1;
      ctx.config.logger.info('write-behind: a write of unknown outcome did not land, dropped', {
        schema: cache.schema.name,
        id: d.write.id,
      });
    }
  }
  return out;
}

/**
 * Per delivery of `group` whose deadline Redis' clock is past: the version its write landed at, or
 * undefined when it did not (or a newer write replaced it). A delivery still ahead of its deadline
 * after one wait is left out.
 */
async function decide(
  cache: SchemaCache,
  group: readonly Delivery[],
): Promise<Map<string, number | undefined>> {
  const decided = new Map<string, number | undefined>();
  for (let tries = 0; tries < 2; tries++) {
    const read = await peek(cache, group);
    let ahead = 0;
    group.forEach((d, i) => {
      const { now, entry } = read[i]!;
      const until = d.write.conditional!.until;
      if (now <= until) ahead = Math.max(ahead, until - now + 1);
      else decided.set(d.handle, landedAt(d.write, entry));
    });
    if (ahead === 0 || ahead > MAX_WAIT_MS || tries === 1) return decided;
    await new Promise((resolve) => setTimeout(resolve, ahead));
  }
  return decided;
}

/**
 * Per delivery, Redis' clock where its key lives and its pending index entry: one request per
 * bucket (the index and its rows share a slot).
 */
async function peek(
  cache: SchemaCache,
  group: readonly Delivery[],
): Promise<{ now: number; entry: unknown }[]> {
  const byBucket = new Map<number, number[]>();
  group.forEach((d, i) => {
    const b = cache.router.bucket(d.write.id);
    byBucket.set(b, [...(byBucket.get(b) ?? []), i]);
  });
  const out = new Array<{ now: number; entry: unknown }>(group.length);
  await Promise.all(
    [...byBucket].map(async ([b, positions]) => {
      const space = cache.router.spaces[b]!;
      const keys = [space.pendingIndex, ...positions.map((i) => space.row(group[i]!.write.id))];
      const reply = (await cache.l2!.run(DUE_PEEK, keys, [])) as unknown[];
      positions.forEach((i, j) => {
        out[i] = { now: Number(reply[0]), entry: reply[1 + j] };
      });
    }),
  );
  return out;
}

/**
 * The version of the pending index entry `entry` (`{version};{kind};{row}`) when it is `write`'s
 * (a set's row, or a delete), else undefined.
 */
function landedAt(write: QueuedWrite, entry: unknown): number | undefined {
  if (typeof entry !== 'string') return undefined;
  const match = /^(\d+);([ra]);/.exec(entry);
  if (!match) return undefined;
  const row = entry.slice(match[0].length);
  const mine = write.op === 'set' ? match[2] === 'r' && row === write.row : match[2] === 'a' && row === '';
  return mine ? Number(match[1]) : undefined;
}
