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
  const lines = [...machineLines(run), '', ...measurementsTable(run.results)];
  const targets = targetsTable(run.results);
  if (targets.length) lines.push('', ...targets);
  for (const f of run.failures) lines.push('', `Suite ${f.key} FAILED: ${f.message}`);
  return lines.join('\n');
}

/** Machine, versions and command of a run. */
export function machineLines({ machine, elapsedSeconds, quick }) {
  return [
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, ${machine.os}; Node ${machine.node}; ${machine.postgres}; ${machine.redis.split(' sha=')[0]}.`,
    `Versions: ${Object.entries(machine.packages)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    `Command: \`npm run bench\`${quick ? ' (--quick)' : ''}; ${elapsedSeconds.toFixed(0)} s. Round trips = Upstash HTTP requests / SQL statements per call (TCP Redis commands where marked).`,
  ];
}

/** A row's median over its section's baseline, e.g. `1.03×`; '' without a baseline. */
export function ratioOf(suite, row) {
  const baseRow = row.base
    ? suite.rows.find((r) => r.section === row.section && r.name === row.base)
    : undefined;
  if (!baseRow || !Number.isFinite(row.median) || !Number.isFinite(baseRow.median)) return '';
  return baseRow === row ? 'baseline' : `${(row.median / baseRow.median).toFixed(2)}×`;
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
      const median = row.value ?? (Number.isFinite(row.median) ? formatNs(row.median) : '');
      const p99 = Number.isFinite(row.p99) ? formatNs(row.p99) : '';
      lines.push(
        `| ${cell(section)} | ${cell(row.name)} | ${median} | ${p99} | ${ratioOf(suite, row)} | ${cell(row.rt)} | ${cell(row.note)} |`,
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
