import type { Logger, Strata } from '@strata/core';
import type { Redis } from 'ioredis';

/**
 * What a probe prints when it fails and nothing else would say why: each instance's log (kept in
 * memory, printed only then), its counters, and what Redis holds for the ids that disagreed. A
 * failure seen once in CI and never locally (probe-hostile-10, "killed 30 ms into it") left only
 * its assertion line; this is the evidence the next one leaves.
 */
export interface LogLine {
  readonly at: number;
  readonly level: string;
  readonly message: string;
  readonly fields?: Record<string, unknown>;
}

/** Most lines kept per instance: the oldest go first. */
const MAX_LINES = 400;

/** A logger that keeps every line (debug included) for {@link evidence}, and prints nothing. */
export function recordingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: string) =>
    (message: string, fields?: Record<string, unknown>): void => {
      lines.push({ at: Date.now(), level, message, ...(fields && { fields }) });
      if (lines.length > MAX_LINES) lines.shift();
    };
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

/** Long values (a 2,000-row stream, a pending row's payload) cut to this. */
const CUT = 300;
const cut = (v: unknown) => {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s && s.length > CUT ? `${s.slice(0, CUT)}…(${s.length})` : s;
};

/**
 * The evidence, as text: per instance (label) its counters and log lines since `since` (Date.now),
 * and from `redis` every key under `match` that is not a row (generation, tick, boot marker,
 * counter, pending index…: type and value) and the keys naming each of `ids` (their values, and
 * their fields in each hash).
 */
export async function evidence(
  who: Record<string, Strata>,
  logs: ReadonlyMap<Strata, readonly LogLine[]>,
  since: number,
  redis: Redis,
  match: string,
  ids: readonly string[],
): Promise<string> {
  const out: string[] = [];
  for (const [label, x] of Object.entries(who)) {
    const s = x.stats();
    const counters = {
      errorsBy: s.errorsBy,
      busGaps: s.busGaps,
      invalidationsApplied: s.invalidationsApplied,
      dirtyCount: s.dirtyCount,
      hits: s.hits,
      misses: s.misses,
      conditionalDropped: s.conditionalDropped,
      flushed: s.flushed,
      l2Breaker: s.l2Breaker,
    };
    out.push(`${label} stats ${JSON.stringify(counters)}`);
    for (const l of logs.get(x) ?? [])
      if (l.at >= since)
        out.push(`${label} +${l.at - since}ms ${l.level} ${l.message} ${cut(l.fields ?? {})}`);
  }
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0' && keys.length < 50_000);
    const rowKeys = keys.filter((k) => k.includes(':r:'));
    out.push(`redis: ${keys.length} keys under ${match}, ${rowKeys.length} of them rows`);
    for (const k of keys.filter((k) => !k.includes(':r:')).sort()) {
      const type = await redis.type(k);
      let value: unknown;
      if (type === 'string') value = await redis.get(k);
      else if (type === 'hash') value = `${await redis.hlen(k)} fields`;
      else if (type === 'zset') value = `${await redis.zcard(k)} members`;
      else if (type === 'stream') value = `${await redis.xlen(k)} entries`;
      out.push(`redis ${k} (${type}) ${cut(value)} pttl=${await redis.pttl(k)}`);
      if (type === 'hash')
        for (const id of ids) {
          const [, pairs] = await redis.hscan(k, '0', 'MATCH', `*${id}*`, 'COUNT', 100_000);
          if (pairs.length > 0) out.push(`  ${k} fields of ${id}: ${cut(pairs)}`);
        }
    }
    for (const id of ids)
      for (const k of rowKeys.filter((r) => r.endsWith(`:r:${id}`)))
        out.push(`redis ${k} = ${cut(await redis.get(k))} pttl=${await redis.pttl(k)}`);
  } catch (err) {
    out.push(`redis evidence failed: ${String(err)}`);
  }
  return out.join('\n');
}
