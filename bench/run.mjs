// npm run bench: Strata against its peers and the raw clients, in one run (each suite in a process of its own), on the
// devstack over the machine's real Redis and Postgres. Prints one markdown table and writes
// bench/results/<date>-<machine>.md and .json (the history: one pair per run) and
// bench/results/latest.json. See bench/README.md.
//
//   node run.mjs                 everything (several minutes)
//   node run.mjs --quick         fewer samples, one run (a smoke run; numbers are rougher)
//   node run.mjs --only l1,l2    some suites: l1 l2 l3 batch round-trips search stampede staleness write-modes concurrency capture capture-workerd memory load
//   node run.mjs --runs 5        run the timed suites 5 times (default 3, 1 with --quick): medians of the runs
//   node run.mjs --no-write      print only, write no results file
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { uniqueName } from '@strata/devstack';
import { forkSuite } from './lib/fork-suite.mjs';
import { machineInfo, shortMachine } from './lib/machine.mjs';
import { render } from './lib/render.mjs';
import { combineRuns } from './lib/runs.mjs';
import { suites as allSuites, once } from './lib/suites.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const write = !args.includes('--no-write');
/** The value of `--name value` or `--name=value`. */
const option = (name) => {
  const arg = args.find((a) => a === name || a.startsWith(`${name}=`));
  if (!arg) return undefined;
  return arg.includes('=') ? arg.split('=')[1] : args[args.indexOf(arg) + 1];
};
const only = option('--only')?.split(',');
const runs = Math.max(1, Number(option('--runs') ?? (quick ? 1 : 3)) || 1);
const log = (message) => console.error(`bench: ${message}`);

const suites = allSuites.filter(([key]) => !only || only.includes(key));

const started = Date.now();
const machine = machineInfo();
log(`${machine.cpu}, ${machine.cores} cores, Node ${machine.node}${quick ? ' (quick)' : ''}`);
// Each suite runs in a child process of its own (run-suite.mjs) with its own devstack, Postgres schema
// and Redis keys, named here so that what a child that died left behind can be removed. On the tables
// the batch suite had filled, search read 1.6× the Drizzle select instead of 1.2× (bench/README.md,
// "Method"); nothing a suite leaves, in the tables or in the process, reaches the next one.
const runName = uniqueName('bench');
const results = [];
const failures = [];
const unswept = []; // names of children that did not report a clean cleanup
let interrupted = false;
let current; // the running suite's child process
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    // Forwarded: the child (in a process group of its own) finishes its suite and cleans up on the
    // first signal and exits at once on the second.
    current?.kill(signal);
    if (interrupted) process.exit(130); // a second signal: stop now, without cleaning up
    interrupted = true;
    log(`${signal}: finishing the current suite, then cleaning up (again to stop at once)`);
  });
}
const outputs = new Map(); // key -> [{ out, load }] in run order
// Whole passes over the suites rather than one suite three times in a row, so a burst of load
// from elsewhere lands on one run of several suites, not on every run of one.
for (let pass = 1; pass <= runs; pass++) {
  for (const [key, label] of suites) {
    if (interrupted) break;
    if (pass > 1 && once.has(key)) continue;
    if (failures.some((f) => f.key === key)) continue;
    const t0 = Date.now();
    const of = runs > 1 && !once.has(key) ? ` (run ${pass}/${runs})` : '';
    log(`${label}${of}…`);
    // A fresh name per run too: what run 1 cached or inserted is not there in run 2 (cold stays cold).
    const name = `${runName}_${key.replaceAll('-', '_')}_r${pass}`;
    let reply;
    try {
      reply = await forkSuite({ key, name, quick }, { onChild: (child) => (current = child) });
    } catch (err) {
      reply = { error: err instanceof Error ? err.message : String(err), cleaned: false };
    }
    current = undefined;
    if (!reply.cleaned) unswept.push(name);
    if (reply.error !== undefined) {
      failures.push({ key, message: reply.error });
      log(`${label} FAILED: ${reply.error}`);
      continue;
    }
    // The load average (1, 5, 15 min), measured by the child around the suite: a number measured
    // while the machine was busy says so next to it.
    outputs.set(key, [...(outputs.get(key) ?? []), { out: reply.out, load: reply.load }]);
    log(`${label}${of}: ${((Date.now() - t0) / 1000).toFixed(1)} s, load ${reply.load.after[0]}`);
  }
}
for (const [key, label] of suites) {
  const entries = outputs.get(key);
  if (!entries) continue; // a run that failed is reported; the runs that did not still count
  const combined = combineRuns(entries.map((e) => e.out));
  results.push({ key, label, ...combined, load: entries.map((e) => e.load) });
}
if (unswept.length > 0) {
  log(`removing what ${unswept.join(', ')} left`);
  const { sweep } = await import('./lib/stack.mjs');
  await sweep(unswept).catch((err) => log(`cleanup failed: ${err}`));
}

const elapsed = (Date.now() - started) / 1000;
const runLoad = results.flatMap((r) => r.load);
const run = {
  date: new Date().toISOString(),
  quick,
  runs,
  elapsedSeconds: elapsed,
  command: `npm run bench${runs !== 3 && !quick ? ` -- --runs ${runs}` : ''}`,
  machine,
  load: runLoad,
  results,
  failures,
};
const markdown = render(run);
console.log(markdown);
if (write) {
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  // One .md and one .json per run: a second run the same day gets -2, -3, … rather than replacing it.
  const stem = `${run.date.slice(0, 10)}-${shortMachine(machine)}`;
  let name = stem;
  for (let n = 2; existsSync(`${dir}${name}.json`) || existsSync(`${dir}${name}.md`); n++)
    name = `${stem}-${n}`;
  const json = `${JSON.stringify(run, null, 2)}\n`;
  writeFileSync(`${dir}${name}.md`, `# Benchmark run ${run.date}\n\n${markdown}\n`);
  writeFileSync(`${dir}${name}.json`, json);
  writeFileSync(`${dir}latest.json`, json);
  log(`wrote ${dir}${name}.md, ${name}.json and latest.json`);
}
process.exitCode = failures.length ? 1 : 0;
