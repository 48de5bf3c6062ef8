// Several runs of one suite folded into one result: every timed number becomes the median of the
// runs, and every ratio the median of the per-run ratios with its spread (min–max), so one noisy run
// neither makes nor breaks a number and the reader sees how far the runs disagreed.
import { median, spread } from './stats.mjs';

const rowKey = (row) => `${row.section}\u0000${row.name}`;

/** A row's time over its baseline's in one run (both from the same run), or NaN. */
export function runRatio(rows, row) {
  if (!row.base || !Number.isFinite(row.median)) return Number.NaN;
  const base = rows.find((r) => r.section === row.section && r.name === row.base);
  if (!base || !Number.isFinite(base.median) || base === row) return Number.NaN;
  return row.median / base.median;
}

/** Targets of several runs: one value per run, met when most runs met it. */
function combineTargets(runs) {
  const first = runs[0].targets ?? [];
  return first.map((target, i) => {
    const all = runs.map((run) => run.targets?.[i]).filter((t) => t?.target === target.target);
    const values = all.map((t) => t.value);
    const met = all.filter((t) => t.met).length * 2 > all.length;
    const value = new Set(values).size === 1 ? values[0] : values.join(' · ');
    return { ...target, value, met, runs: all.map((t) => ({ value: t.value, met: t.met })) };
  });
}

/**
 * Folds the outputs of one suite run `runs.length` times (`{ rows, targets, … }` each, in run order)
 * into one: rows keep the first run's order and fields; `median`, `p99` and `opsPerSec` become the
 * medians over the runs (with `runs`: each run's median); a row with a baseline gets `ratio`, the
 * median of its per-run ratios with min and max. A single run is returned as it is.
 * @example combineRuns([{ rows: [a1, b1] }, { rows: [a2, b2] }, { rows: [a3, b3] }]).rows[1].ratio
 */
export function combineRuns(runs) {
  if (runs.length === 1) return runs[0];
  const byRun = runs.map((run) => new Map(run.rows.map((r) => [rowKey(r), r])));
  const rows = runs[0].rows.map((row) => {
    const all = byRun.map((m) => m.get(rowKey(row))).filter(Boolean);
    const out = { ...row };
    if (Number.isFinite(row.median)) {
      out.runs = all.map((r) => r.median);
      out.median = median(out.runs);
      out.p99 = median(all.map((r) => r.p99).filter(Number.isFinite));
    }
    if (Number.isFinite(row.opsPerSec)) out.opsPerSec = median(all.map((r) => r.opsPerSec));
    if (row.value !== undefined) out.value = [...new Set(all.map((r) => r.value))].join(' · ');
    const ratios = all.map((r, i) => runRatio(runs[i].rows, r));
    if (ratios.some(Number.isFinite)) {
      const { values, ...summary } = spread(ratios);
      out.ratio = { ...summary, values };
    }
    return out;
  });
  return { ...runs[0], rows, targets: combineTargets(runs), runCount: runs.length };
}
