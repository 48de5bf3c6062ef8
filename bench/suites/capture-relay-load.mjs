// The relay's Postgres load (issue 16): SQL statements per second of one relay (interval 1 s, on a
// timer), idle and while outside writes arrive at about 1,000 a second. Outside writes go through a
// plain pg client, as another service would make them; only the relay's statements are counted.
import { nodeScheduler } from '@strata/adapter-node';
import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { changeRelay, Strata } from '@strata/core';
import { changeCapture, createDrizzleL3 } from '@strata/core/drizzle';
import { getTableConfig } from 'drizzle-orm/pg-core';

const SECTION = 'Change capture: Postgres load of a relay (interval 1 s)';
/** Outside writers in flight: one pg connection each, paced together to the target rate. */
const WRITERS = 8;
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Two rows, one relay: statements/s idle (`idleMs`), then under ~`rate` single-row UPDATEs/s on
 * `on`'s table for `loadMs`. `keys`: ids that exist in that table.
 */
export async function relayLoad(stack, on, { idleMs, loadMs, rate = 1_000, keys }) {
  const l2 = createIoredisL2(stack.urls.redisUrl);
  const l3 = createDrizzleL3(stack.db, { migrationsSchema: stack.name, capture: changeCapture });
  const strata = new Strata({
    l2,
    l3,
    keyPrefix: `${stack.name}-capture-relay`,
    schemas: [on],
    capture: { relay: changeRelay({ interval: '1s' }) },
    scheduler: nodeScheduler(),
  });
  try {
    await strata.relayChanges(); // the first read (a gap: no cursor yet) is not the load measured
    const relay = () => strata.stats().capture.relay;
    const window = async (ms, during) => {
      const before = { ...relay() };
      const done = stack.count(); // Drizzle's logger on stack.db: every statement the relay sends
      const extra = await during(ms);
      const statements = done().sql;
      const after = relay();
      return {
        statements,
        seconds: ms / 1_000,
        polls: after.polls - before.polls,
        changes: after.changes - before.changes,
        errors: after.errors - before.errors,
        ...extra,
      };
    };
    // An idle process, nothing to await: the window is the measurement itself.
    const idle = await window(idleMs, (ms) => pause(ms));
    const sizeBefore = await logSize(stack);
    const loaded = await window(loadMs, (ms) => outsideWrites(stack, on, keys, rate, ms));
    const sizeAfter = await logSize(stack);
    loaded.growth = {
      entries: sizeAfter.entries - sizeBefore.entries,
      bytes: sizeAfter.bytes - sizeBefore.bytes,
    };
    if (idle.errors + loaded.errors > 0) throw new Error('capture: the relay failed during its load windows');
    return [
      row('SQL statements per second, no changes', idle, 'idle'),
      row(`SQL statements per second, ~${rate.toLocaleString('en-US')} outside writes/s`, loaded, 'loaded'),
    ];
  } finally {
    await strata.close();
  }
}

function row(name, w, kind) {
  const perSecond = w.statements / w.seconds;
  const load =
    kind === 'loaded'
      ? `; ${w.writes} single-row UPDATEs by a plain pg client (${(w.writes / w.seconds).toFixed(0)}/s), ${w.changes} log entries applied within the window (the rest by the next poll); the log grew by ${w.growth.entries} entries, ${(w.growth.bytes / 1024).toFixed(0)} KiB on disk (${(w.growth.bytes / Math.max(1, w.growth.entries)).toFixed(0)} B per entry, its key included), until the relay prunes past the retention`
      : '';
  return {
    section: SECTION,
    name,
    value: `${perSecond.toFixed(2)} /s`,
    median: Number.NaN,
    p99: Number.NaN,
    note: `${perSecond.toFixed(2)} statements/s (${w.statements} in ${w.seconds.toFixed(1)} s, ${w.polls} polls; each poll is one L2 script, a read one statement a page of 1,000 entries)${load}`,
  };
}

/** Single-row UPDATEs, each its own transaction, paced to `rate`/s for `ms`. Resolves `{ writes }`. */
async function outsideWrites(stack, on, keys, rate, ms) {
  const config = getTableConfig(on.table);
  const table = `"${config.schema}"."${config.name}"`;
  const clients = await Promise.all(Array.from({ length: WRITERS }, () => stack.pool.connect()));
  const start = performance.now();
  let next = 0;
  let writes = 0;
  try {
    await Promise.all(
      clients.map(async (client) => {
        for (;;) {
          const i = next++;
          const due = (i * 1_000) / rate; // ms after start: the pacing, not a synchronisation
          if (due >= ms || performance.now() - start >= ms) return; // a slow server: fewer writes, same window
          const ahead = due - (performance.now() - start);
          if (ahead > 1) await pause(ahead);
          await client.query(`update ${table} set n = n + 1 where id = $1`, [keys[i % keys.length]]);
          writes += 1;
        }
      }),
    );
    return { writes, seconds: (performance.now() - start) / 1_000 };
  } finally {
    for (const client of clients) client.release();
  }
}

/** The change log's entries and its size on disk (table, its key and TOAST), to report its growth. */
async function logSize(stack) {
  const changes = `"${stack.name}"."_strata_changes"`;
  const { rows } = await stack.pool.query(
    `select count(*)::int as entries, pg_total_relation_size('${changes}')::bigint as bytes from ${changes}`,
  );
  return { entries: rows[0].entries, bytes: Number(rows[0].bytes) };
}
