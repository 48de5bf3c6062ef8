// Markdown of a bench run. `npm run bench` prints it and writes it to bench/results/<date>-<machine>.md;
// scripts/docs.mjs renders docs/performance.md from bench/results/latest.json with the same functions,
// so the published numbers are the run's, never retyped.
import { formatNs } from './stats.mjs';

/** A table cell: pipes escaped. */
function cell(text) {
  return String(text ?? '').replaceAll('|', '\\|');
}

/**
 * The run as Markdown: the machine, every measurement with its ratio to its section's baseline, then
 * the targets and any failed suite.
 * @example render(JSON.parse(readFileSync('bench/results/latest.json', 'utf8')))
 */
export function render(run) {
  const lines = [
    ...machineLines(run),
    '',
    ...summaryTable(run.results),
    '',
    ...measurementsTable(run.results),
  ];
  const targets = targetsTable(run.results);
  if (targets.length) lines.push('', ...targets);
  for (const f of run.failures) lines.push('', `Suite ${f.key} FAILED: ${f.message}`);
  return lines.join('\n');
}

/** Machine, versions and command of a run. */
export function machineLines({ machine, elapsedSeconds, quick, load, runs }) {
  const lines = [
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, ${machine.os}; Node ${machine.node}; ${machine.postgres}; ${machine.redis.split(' sha=')[0]}.`,
    `Versions: ${Object.entries(machine.packages)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    `Command: \`npm run bench\`${quick ? ' (--quick)' : ''}; ${elapsedSeconds.toFixed(0)} s. Round trips = Upstash HTTP requests / SQL statements per call (TCP Redis commands where marked).`,
  ];
  if (runs > 1)
    lines.push(
      `Timed suites ran ${runs} times: each number is the median of the runs, each ratio the median of the runs' ratios (min–max in brackets).`,
    );
  if (load) lines.push(`Load average (1 min) during the run: ${loadRange(load)} on ${machine.cores} cores.`);
  return lines;
}

/** `0.52–2.10` from load samples `[{ before: [1m, 5m, 15m], after: […] }, …]` or `{ min, max }`. */
export function loadRange(load) {
  const samples = Array.isArray(load)
    ? load.flatMap((l) => [l.before?.[0], l.after?.[0]])
    : [load.min, load.max];
  const finite = samples.filter(Number.isFinite);
  if (!finite.length) return '–';
  const [lo, hi] = [Math.min(...finite), Math.max(...finite)];
  return lo === hi ? lo.toFixed(2) : `${lo.toFixed(2)}–${hi.toFixed(2)}`;
}

/** Operations per second, rounded to 3 significant digits: `12,300 ops/s`. */
export function formatOps(opsPerSec) {
  if (!Number.isFinite(opsPerSec)) return '–';
  const digits = Math.max(0, Math.floor(Math.log10(Math.max(1, opsPerSec))) - 2);
  const rounded = Math.round(opsPerSec / 10 ** digits) * 10 ** digits;
  return `${rounded.toLocaleString('en-US', { maximumFractionDigits: 1 })} ops/s`;
}

/** `1.05× (1.02–1.09)`: the ratio with its spread over runs, when there were several. */
export function ratioWithSpread(suite, row) {
  const ratio = ratioOf(suite, row);
  const r = row.ratio;
  if (!r || ratio === 'baseline' || !ratio || !Number.isFinite(r.min)) return ratio;
  return `${ratio} (${r.min.toFixed(2)}–${r.max.toFixed(2)})`;
}

/**
 * A row's time over its section's baseline, e.g. `1.03×`; '' without a baseline. Over several runs,
 * the median of the runs' ratios (`row.ratio`), not the ratio of the medians.
 */
export function ratioOf(suite, row) {
  const baseRow = row.base
    ? suite.rows.find((r) => r.section === row.section && r.name === row.base)
    : undefined;
  if (!baseRow || !Number.isFinite(row.median) || !Number.isFinite(baseRow.median)) return '';
  if (baseRow === row) return 'baseline';
  const ratio = Number.isFinite(row.ratio?.median) ? row.ratio.median : row.median / baseRow.median;
  return `${ratio.toFixed(2)}×`;
}

/** Every measurement of every suite, one row each. */
export function measurementsTable(results) {
  const lines = [
    '| Measurement | Contestant | median | p99 | vs baseline | round trips | note |',
    '| --- | --- | ---: | ---: | ---: | --- | --- |',
  ];
  for (const suite of results) {
    let last;
    for (const row of suite.rows) {
      const section = row.section === last ? '' : `**${row.section}**`;
      last = row.section;
      const median =
        row.value ??
        (Number.isFinite(row.opsPerSec)
          ? formatOps(row.opsPerSec)
          : Number.isFinite(row.median)
            ? formatNs(row.median)
            : '');
      const p99 = Number.isFinite(row.p99) ? formatNs(row.p99) : '';
      lines.push(
        `| ${cell(section)} | ${cell(row.name)} | ${median} | ${p99} | ${ratioWithSpread(suite, row)} | ${cell(row.rt)} | ${cell(row.note)} |`,
      );
    }
  }
  return lines;
}

/** The targets the suites set, with the measured value and whether it was met. */
export function targetsTable(results) {
  const targets = results.flatMap((s) => s.targets ?? []);
  if (!targets.length) return [];
  return [
    '| Target | Result | Met |',
    '| --- | --- | --- |',
    ...targets.map((t) => `| ${cell(t.target)} | ${cell(t.value)} | ${t.met ? 'yes' : '**no**'} |`),
  ];
}

/**
 * The short table of a run: per suite, the rows it marks `headline` (else the Strata rows with a
 * ratio in its first section), with the ratio's spread over runs and the load average of the suite.
 */
export function summaryTable(results) {
  const lines = [
    '| Measurement | Contestant | value | vs baseline (min–max over runs) | runs | load avg (1 min) |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const suite of results) {
    const marked = suite.rows.filter((r) => r.headline);
    const rows = marked.length
      ? marked
      : suite.rows.filter(
          (r) => r.section === suite.rows[0]?.section && r.name.startsWith('Strata') && ratioOf(suite, r),
        );
    for (const row of rows) {
      const value =
        row.value ?? (Number.isFinite(row.opsPerSec) ? formatOps(row.opsPerSec) : formatNs(row.median));
      const load = suite.load ? loadRange(suite.load) : '–';
      lines.push(
        `| ${cell(row.section)} | ${cell(row.name)} | ${value} | ${ratioWithSpread(suite, row) || '–'} | ${suite.runCount ?? 1} | ${load} |`,
      );
    }
  }
  return lines;
}
