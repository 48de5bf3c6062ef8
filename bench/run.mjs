// npm run bench: Strata against its peers and the raw clients, in one process and one run, on the
// devstack over the machine's real Redis and Postgres. Prints one markdown table and writes
// bench/results/<date>-<machine>.md and .json (the history: one pair per run) and
// bench/results/latest.json. See bench/README.md.
//
//   node run.mjs                 everything (several minutes)
//   node run.mjs --quick         fewer samples, one run (a smoke run; numbers are rougher)
//   node run.mjs --only l1,l2    some suites: l1 l2 l3 batch round-trips search stampede staleness write-modes concurrency capture capture-workerd memory load
//   node run.mjs --runs 5        run the timed suites 5 times (default 3, 1 with --quick): medians of the runs
//   node run.mjs --no-write      print only, write no results file
import './lib/peer-resolve.mjs';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

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

// Imported after the resolve hook is registered (bentocache's Redis driver needs it).
const { openStack } = await import('./lib/stack.mjs');
const { machineInfo, shortMachine } = await import('./lib/machine.mjs');
const { render } = await import('./lib/render.mjs');
const { combineRuns } = await import('./lib/runs.mjs');
// Suites whose numbers are exact or too slow to repeat run once: round trips are counted, memory
// and hit rates are deterministic, the load suite takes a minute of its own.
const once = new Set(['round-trips', 'capture-workerd', 'memory', 'load']);
const suites = [
  ['l1', 'L1 hit get', async () => (await import('./suites/l1.mjs')).l1Suite],
  ['l2', 'L2 hit get', async () => (await import('./suites/l2.mjs')).l2Suite],
  ['l3', 'full miss to L3', async () => (await import('./suites/l3.mjs')).l3Suite],
  ['batch', 'getMany / setMany', async () => (await import('./suites/batch.mjs')).batchSuite],
  [
    'round-trips',
    'round trips per operation',
    async () => (await import('./suites/round-trips.mjs')).roundTripsSuite,
  ],
  ['search', 'search and searchCached', async () => (await import('./suites/search.mjs')).searchSuite],
  ['stampede', 'stampede', async () => (await import('./suites/stampede.mjs')).stampedeSuite],
  [
    'staleness',
    'stale-while-revalidate',
    async () => (await import('./suites/staleness.mjs')).stalenessSuite,
  ],
  ['write-modes', 'write modes', async () => (await import('./suites/write-modes.mjs')).writeModesSuite],
  [
    'concurrency',
    'concurrent throughput',
    async () => (await import('./suites/concurrency.mjs')).concurrencySuite,
  ],
  ['capture', 'change capture', async () => (await import('./suites/capture.mjs')).captureSuite],
  [
    'capture-workerd',
    'change capture in workerd',
    async () => (await import('./suites/capture-workerd.mjs')).captureWorkerdSuite,
  ],
  ['memory', 'L1 memory and hit rates', async () => (await import('./suites/memory.mjs')).memorySuite],
  ['load', 'demo worker under load', async () => (await import('./suites/load.mjs')).loadSuite],
].filter(([key]) => !only || only.includes(key));

const started = Date.now();
const machine = machineInfo();
log(`${machine.cpu}, ${machine.cores} cores, Node ${machine.node}${quick ? ' (quick)' : ''}`);
const stack = await openStack();
const results = [];
const failures = [];
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (interrupted) process.exit(130); // a second signal: stop now, without cleaning up
    interrupted = true;
    log(`${signal}: finishing the current suite, then cleaning up (again to stop at once)`);
  });
}
// The load average (1, 5, 15 min) is recorded around every suite run: a number measured while the
// machine was busy says so next to it.
const loadavg = () => os.loadavg().map((l) => Math.round(l * 100) / 100);
const outputs = new Map(); // key -> [{ out, load }] in run order
try {
  // Whole passes over the suites rather than one suite three times in a row, so a burst of load
  // from elsewhere lands on one run of several suites, not on every run of one.
  for (let pass = 1; pass <= runs; pass++) {
    for (const [key, label, load] of suites) {
      if (interrupted) break;
      if (pass > 1 && once.has(key)) continue;
      if (failures.some((f) => f.key === key)) continue;
      const t0 = Date.now();
      const of = runs > 1 && !once.has(key) ? ` (run ${pass}/${runs})` : '';
      log(`${label}${of}…`);
      try {
        const suite = await load();
        const before = loadavg();
        const out = await suite(stack.forRun(pass), { quick, log });
        const entry = { out, load: { before, after: loadavg() } };
        outputs.set(key, [...(outputs.get(key) ?? []), entry]);
        log(`${label}${of}: ${((Date.now() - t0) / 1000).toFixed(1)} s, load ${entry.load.after[0]}`);
      } catch (err) {
        const message =
          err instanceof Error ? err.message.split('\n').slice(0, 6).join('\n').slice(0, 800) : String(err);
        failures.push({ key, message });
        log(`${label} FAILED: ${message}`);
      }
    }
  }
  for (const [key, label] of suites) {
    const entries = outputs.get(key);
    if (!entries) continue; // a run that failed is reported; the runs that did not still count
    const combined = combineRuns(entries.map((e) => e.out));
    results.push({ key, label, ...combined, load: entries.map((e) => e.load) });
  }
} finally {
  await stack.cleanup().catch((err) => log(`cleanup failed: ${err}`));
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
