// The profile scripts' measurement: Strata's op and its raw baseline alternately in one process,
// after a warm-up, each call timed on its own.

/**
 * Runs `strataOp(i)` then `rawOp(i)` `warmup` times untimed, then `n` times timed. Resolves the
 * mean time per call of each, in ns, and their ratio.
 * @example const { strata, raw, ratio } = await alternate((i) => s.get(schema, ids[i]), (i) => redis.get(k(i)), 20_000);
 */
export async function alternate(strataOp, rawOp, n, warmup = 50) {
  for (let i = 0; i < warmup; i++) {
    await strataOp(i);
    await rawOp(i);
  }
  let strataNs = 0n;
  let rawNs = 0n;
  for (let i = 0; i < n; i++) {
    let t = process.hrtime.bigint();
    await strataOp(i);
    strataNs += process.hrtime.bigint() - t;
    t = process.hrtime.bigint();
    await rawOp(i);
    rawNs += process.hrtime.bigint() - t;
  }
  return { strata: Number(strataNs) / n, raw: Number(rawNs) / n, ratio: Number(strataNs) / Number(rawNs) };
}
