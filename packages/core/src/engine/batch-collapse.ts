import type { Row } from '../l3/types.js';
import type { CompiledSchema } from '../schema/types.js';
import { mergeOver } from './partial-rows.js';

/**
 * A key's later set in one call (a `setMany` batch, a transaction) over its earlier set in the same
 * call, as the two calls one after the other would leave it, and as the flush folds two queued sets
 * (`folded`): the columns the later row leaves out keep the earlier row's values, an insert-only
 * (autoNowAdd) column its first one. Before, the later row replaced the earlier one whole, and the
 * columns only the earlier one gave were dropped although the call was acknowledged
 * (reliability/test/probe-hostile-10.test.ts, "one batch naming a key twice").
 */
export function laterSetOver(schema: CompiledSchema, earlier: Row | undefined, later: Row): Row {
  return earlier ? mergeOver(schema, earlier, later) : later;
}
