// Markdown of a load-bench run: bench/load-instances.mjs prints it, scripts/docs.mjs renders
// docs/load.md from bench/results/load-latest.json with the same functions (no number is retyped).
import { formatOps, loadRange, machineLines } from '../lib/render.mjs';
import { formatNs } from '../lib/stats.mjs';

const SETUPS = {
  single: 'one Redis',
  cluster: 'Redis Cluster (3 + 3)',
  'cluster-b16': 'Redis Cluster (3 + 3), 16 buckets',
};
const LIBS = { strata: 'Strata', 'strata-wb': 'Strata write-behind', bentocache: 'bentocache' };
const rate = (perSec) => (Number.isFinite(perSec) ? Math.round(perSec).toLocaleString('en-US') : '–');

/** The run's machine and workload lines. */
export function loadHeader(run) {
  const w = run.workload;
  return [
    ...machineLines({ ...run, quick: false, runs: 1 }).map((line) =>
      line.startsWith('Command:')
        ? `Command: \`${run.command}\`; ${run.elapsedSeconds.toFixed(0)} s in all.`
        : line,
    ),
    `Workload: Zipf(${w.s}) over ${w.keys.toLocaleString('en-US')} player rows, ${Math.round((1 - w.writeShare) * 100)} % \`get\` / ${Math.round(w.writeShare * 100)} % \`set\` (write-through; write-behind in the rows that say so, whose L3 writes are rows its flushers applied), ${w.inFlight} calls in flight per instance (closed loop), ${w.warmupMs / 1000} s warm-up then ${w.durationMs / 1000} s timed; each instance a Node process of its own (\`child_process.fork\`); before each cell L2 holds every row (a fresh key prefix, filled from Postgres: the steady state of a fleet's shared L2) and each instance starts with an empty L1.`,
  ];
}

/** One row per cell: throughput, latency per operation, L3 queries/s and the agreement check. */
export function loadTable(run) {
  const lines = [
    '| Setup | Cache | N | ops/s | vs N = 1 | get p50 | get p99 | set p50 | set p99 | L3 queries/s (reads + writes) | Postgres commits, whole cell | L1 hits | agrees with Postgres | load (1 min) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |',
  ];
  for (const c of run.cells) {
    const one = run.cells.find((o) => o.setup === c.setup && o.lib === c.lib && o.n === 1);
    const scale =
      one && one !== c ? `${(c.opsPerSec / one.opsPerSec).toFixed(2)}×` : one === c ? '1.00×' : '';
    const l1 = c.l1HitShare === null ? '–' : `${(c.l1HitShare * 100).toFixed(1)} %`;
    lines.push(
      `| ${SETUPS[c.setup]} | ${LIBS[c.lib] ?? c.lib} | ${c.n} | ${formatOps(c.opsPerSec).replace(' ops/s', '')} | ${scale} | ${formatNs(c.get.p50)} | ${formatNs(c.get.p99)} | ${formatNs(c.set.p50)} | ${formatNs(c.set.p99)} | ${rate(c.l3PerSec.total)} (${rate(c.l3PerSec.reads)} + ${rate(c.l3PerSec.writes)}) | ${rate(c.postgresCommitsInCell)} | ${l1} | ${agreement(c)} | ${loadRange([c.load])} |`,
    );
  }
  for (const f of run.failures) lines.push('', `Cell ${f.cell} FAILED: ${f.message}`);
  return lines;
}

/** `yes (200 keys, 143 in L2, all instances within 12 ms)` or what disagreed. */
function agreement(c) {
  const { check } = c;
  const errors = c.ops.errors ? `; ${c.ops.errors} calls failed` : '';
  if (check.agrees) {
    const slowest = Math.max(...check.instances.map((i) => i.agreedAfterMs));
    return `yes (${check.sample} keys, ${check.l2.inL2} in L2, every instance within ${Math.ceil(slowest)} ms)${errors}`;
  }
  const instances = check.instances.filter((i) => i.mismatchCount > 0).length;
  return `**no**: ${check.l2.mismatchCount} of ${check.l2.inL2} L2 rows differ; ${instances} of ${c.n} instances still differ after 3 s${errors}`;
}

/**
 * One number of one cell, formatted as the table shows it: `ops` (ops/s), `scale` (× its N = 1),
 * `getP50` `getP99` `setP50` `setP99`, `l3` (L3 queries/s), `l1` (L1 hit share). Throws for a cell
 * or field the run does not have, so a page cannot cite a number that is not there.
 * @example loadCell(run, 'cluster', 'strata', 4, 'ops') // '4,120'
 */
export function loadCell(run, setup, lib, n, field) {
  const c = run.cells.find((o) => o.setup === setup && o.lib === lib && o.n === n);
  if (!c) throw new Error(`load: the run has no cell ${setup}/${lib}/N=${n}`);
  const one = run.cells.find((o) => o.setup === setup && o.lib === lib && o.n === 1);
  const fields = {
    ops: () => formatOps(c.opsPerSec).replace(' ops/s', ''),
    scale: () => (one ? `${(c.opsPerSec / one.opsPerSec).toFixed(2)}×` : '–'),
    getP50: () => formatNs(c.get.p50),
    getP99: () => formatNs(c.get.p99),
    setP50: () => formatNs(c.set.p50),
    setP99: () => formatNs(c.set.p99),
    l3: () => rate(c.l3PerSec.total),
    l1: () => (c.l1HitShare === null ? '–' : `${(c.l1HitShare * 100).toFixed(1)} %`),
  };
  if (!fields[field]) throw new Error(`load: unknown field ${field}`);
  return fields[field]();
}

export function renderLoad(run) {
  return [...loadHeader(run), '', ...loadTable(run)].join('\n');
}
