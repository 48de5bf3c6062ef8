// The profile scripts' measurement: Strata's op and its raw baseline alternately in one process,
// after a warm-up, each call timed on its own.

/**
 * Runs `strataOp(i)` and `rawOp(i)` `warmup` times untimed, then `n` times timed, in turns. Resolves the
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
  const timed = async (op, i) => {
    const t = process.hrtime.bigint();
    await op(i);
    return process.hrtime.bigint() - t;
  };
  for (let i = 0; i < n; i++) {
    // Who goes first alternates, so neither always runs right after the other (its GC, its cache).
    if (i % 2 === 0) {
      strataNs += await timed(strataOp, i);
      rawNs += await timed(rawOp, i);
    } else {
      rawNs += await timed(rawOp, i);
      strataNs += await timed(strataOp, i);
    }
  }
  return { strata: Number(strataNs) / n, raw: Number(rawNs) / n, ratio: Number(strataNs) / Number(rawNs) };
}

/**
 * The concurrent counterpart of {@link alternate}: `inFlight` calls outstanding (a closed loop, each
 * worker starting its next call when its last resolves), Strata's op and the raw one taking turns in
 * `blocks` blocks of `n / blocks` calls each, so drift lands on both alike. At 256 in flight the
 * process is CPU-bound: time per completed call is CPU per call. `only: 'strata'` (or `'raw'`) skips
 * the other side's blocks (a CPU profile of one side alone). Resolves ns per completed call of each, and the ratio.
 * @example const { ratio } = await alternateConcurrent((i) => s.get(schema, ids[i % 2_000]), raw, 200_000);
 */
export async function alternateConcurrent(strataOp, rawOp, n, { inFlight = 256, blocks = 20, only } = {}) {
  const block = Math.max(inFlight, Math.floor(n / blocks));
  const run = async (op, calls, from) => {
    let next = from;
    const end = from + calls;
    const worker = async () => {
      while (next < end) await op(next++);
    };
    const t = process.hrtime.bigint();
    await Promise.all(Array.from({ length: inFlight }, worker));
    return process.hrtime.bigint() - t;
  };
  if (only !== 'raw') await run(strataOp, 4 * inFlight, 0);
  if (only !== 'strata') await run(rawOp, 4 * inFlight, 0);
  let strataNs = 0n;
  let rawNs = 0n;
  let calls = 0;
  for (let b = 0; b < blocks; b++) {
    // Who goes first alternates, so neither always follows the other's garbage.
    const first = b % 2 === 0;
    if (first && only !== 'raw') strataNs += await run(strataOp, block, calls);
    if (only !== 'strata') rawNs += await run(rawOp, block, calls);
    if (!first && only !== 'raw') strataNs += await run(strataOp, block, calls);
    calls += block;
  }
  const strata = Number(strataNs) / calls;
  const raw = Number(rawNs) / calls;
  return { strata, raw, ratio: raw > 0 && strata > 0 ? strata / raw : Number.NaN };
}
