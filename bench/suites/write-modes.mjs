// Write-behind vs write-through: 1,000 sequential `set`s over 100 ids (each id written 10 times),
// then `flushDirty()`. Sets per second as the caller sees them (until each set resolves), and SQL
// statements per 1,000 sets including the flush. Write-behind queues: the in-memory queue (core)
// and the durable Redis Stream queue (adapter-node).
import { createRedisStreamQueue } from '@strata/adapter-node/redis-tcp';
import { createMemoryQueue } from '@strata/core';
import { playerRow } from '../lib/stack.mjs';

const N = 1_000;
const IDS = 100;

export async function writeModesSuite(stack, { quick = false } = {}) {
  const n = quick ? 300 : N;
  const cases = [
    ['write-through', undefined],
    ['write-behind, memory queue', () => createMemoryQueue()],
    [
      'write-behind, Redis Stream queue',
      // allowVolatile: the bench's Redis (this machine's, the CI's) has no AOF. keyPrefix: the
      // Strata's own (stack.strata names it `${stack.name}-${prefix}`).
      (keyPrefix) =>
        createRedisStreamQueue({
          url: stack.urls.redisUrl,
          keyPrefix,
          stream: `${stack.name}:wb`,
          allowVolatile: true,
        }),
    ],
  ];
  const out = [];
  const results = new Map();
  let migrated = false;
  for (const [name, queue] of cases) {
    const q = queue?.(`${stack.name}-wm${out.length}`);
    const { strata, schema } = stack.strata({
      prefix: `wm${out.length}`,
      schema: { writeMode: q ? 'write-behind' : 'write-through' },
      ...(q && { writeBehind: { queue: q, threshold: 1_000_000 } }),
    });
    if (!migrated) await strata.migrate();
    migrated = true;
    const rows = Array.from({ length: n }, (_, i) => ({
      ...playerRow(`wm${out.length}x`, i % IDS),
      level: (i % 90) + 1,
    }));
    for (let i = 0; i < 20; i++) await strata.set(schema, rows[i]); // warm-up
    await strata.flushDirty();
    const done = stack.count();
    const started = process.hrtime.bigint();
    for (const row of rows) await strata.set(schema, row);
    const ns = Number(process.hrtime.bigint() - started);
    await strata.flushDirty();
    const rt = done();
    const perSecond = n / (ns / 1e9);
    const statementsPer1k = Math.round((rt.sql * 1_000) / n);
    results.set(name, { perSecond, statementsPer1k });
    out.push({
      section: 'Write modes: 1,000 sets over 100 ids',
      name,
      median: ns / n,
      p99: Number.NaN,
      rt: `${Math.round((rt.upstash * 1_000) / n)} / ${statementsPer1k}`,
      note: `${Math.round(perSecond)} sets/s; ${statementsPer1k} SQL statements per 1,000 sets (flush included)`,
    });
    await strata.close();
    await q?.close?.();
  }
  const wt = results.get('write-through');
  const wb = results.get('write-behind, memory queue');
  out.forEach((row) => {
    row.base = 'write-through';
  });
  return {
    rows: out,
    targets: [
      {
        target: 'Write-behind: more sets/s and fewer L3 statements than write-through',
        value: `${(wb.perSecond / wt.perSecond).toFixed(1)}× sets/s; ${wb.statementsPer1k} vs ${wt.statementsPer1k} statements per 1,000`,
        met: wb.perSecond > wt.perSecond && wb.statementsPer1k < wt.statementsPer1k,
      },
    ],
  };
}
