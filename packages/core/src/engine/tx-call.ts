import { toMs } from '../duration.js';
import type { CallParts } from './call-parts.js';
import { commitTx } from './commit-tx.js';
import type { Publish } from './flusher.js';
import { namedKeys, rowId } from './key-order.js';
import { mergeSkipped } from './merge-refused.js';
import type { SchemaCache } from './schema-cache.js';
import type { CommitOptions, TxOp } from './tx.js';
import { afterSet } from './write-calls.js';

/**
 * A transaction's `commit()` (see `Strata.tx`): its keys' turns in call order, the commit in L3
 * then the caches (`commitTx`), the other instances told, the hooks run.
 */
export async function commitTxCall(
  parts: CallParts,
  publish: Publish,
  ops: readonly TxOp[],
  options: CommitOptions,
): Promise<void> {
  const timeoutMs =
    options.timeout === undefined ? parts.ctx.config.timeouts.l3 : toMs(options.timeout, 'timeout');
  // Its keys' turns, taken when commit() is called: after the writes called before it.
  const named = new Map<SchemaCache, unknown[]>();
  for (const op of ops) {
    const rt = parts.runtime(op.schema);
    const ids = named.get(rt) ?? [];
    ids.push(op.kind === 'set' ? rowId(rt.schema, op.value) : op.id);
    named.set(rt, ids);
  }
  const turns = [...named].map(([rt, ids]) => rt.order.claim(namedKeys(rt.schema, ids), 'settled'));
  let written: Awaited<ReturnType<typeof commitTx>>;
  try {
    await Promise.all(turns.map((turn) => turn.wait()));
    written = await commitTx(
      parts.ctx,
      (op) => parts.runtime(op.schema),
      ops,
      timeoutMs,
      (dropped, work) => parts.writer.afterLateWrite(dropped, work),
    );
  } finally {
    for (const turn of turns) turn.release();
  }
  // Counted as the same calls outside a transaction are, once committed (stats().sets, deletes).
  for (const op of ops) parts.ctx.counters[op.kind === 'set' ? 'sets' : 'deletes'] += 1;
  // Sets and deletes told apart: a receiver's own write a told delete replaced needs no row put
  // back after a Redis reset, nor a read that waits for one (reliability/test/regression-tx-delete-told).
  for (const { cache, keys, versions, deleted } of written)
    for (const op of ['set', 'delete'] as const) {
      const at = keys.flatMap((_, i) => (deleted[i] === (op === 'delete') ? [i] : []));
      if (at.length > 0)
        await parts.coherence.publish(
          cache,
          at.map((i) => keys[i]!),
          at.map((i) => versions[i]!),
          op,
        );
    }
  // A set Postgres skipped as older (a later partial write of its key landed first, e.g. a
  // write-behind flush between this reservation and the commit): its columns no later write set.
  for (const { cache, refused } of written)
    if (refused) await mergeSkipped(parts.ctx, cache, refused, publish, "a transaction's");
  for (const { cache, rows } of written) for (const row of rows) await afterSet(parts.ctx, cache, row);
}
