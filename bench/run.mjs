// npm run bench: Strata against its peers and the raw clients, in one process and one run, on the
// devstack over the machine's real Redis and Postgres. Prints one markdown table and writes
// bench/results/<date>-<machine>.md and bench/results/latest.json. See bench/README.md.
//
//   node run.mjs                 everything (a few minutes)
//   node run.mjs --quick         fewer samples (a smoke run; numbers are rougher)
//   node run.mjs --only l1,l2    some suites: l1 l2 l3 batch round-trips search stampede write-modes memory load
//   node run.mjs --no-write      print only, write no results file
import './lib/peer-resolve.mjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const write = !args.includes('--no-write');
const onlyArg = args.find((a) => a.startsWith('--only'));
const only = onlyArg
  ? (onlyArg.includes('=') ? onlyArg.split('=')[1] : args[args.indexOf(onlyArg) + 1]).split(',')
  : undefined;
const log = (message) => console.error(`bench: ${message}`);

// Imported after the resolve hook is registered (bentocache's Redis driver needs it).
const { openStack } = await import('./lib/stack.mjs');
const { machineInfo, shortMachine } = await import('./lib/machine.mjs');
const { render } = await import('./lib/render.mjs');
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
  ['write-modes', 'write modes', async () => (await import('./suites/write-modes.mjs')).writeModesSuite],
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
try {
  for (const [key, label, load] of suites) {
    if (interrupted) break;
    const t0 = Date.now();
    log(`${label}…`);
    try {
      const suite = await load();
      const out = await suite(stack, { quick, log });
      results.push({ key, label, ...out });
      log(`${label}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } catch (err) {
      const message =
        err instanceof Error ? err.message.split('\n').slice(0, 6).join('\n').slice(0, 800) : String(err);
      failures.push({ key, message });
      log(`${label} FAILED: ${message}`);
    }
  }
} finally {
  await stack.cleanup().catch((err) => log(`cleanup failed: ${err}`));
}

const elapsed = (Date.now() - started) / 1000;
const markdown = render({ results, failures, machine, elapsedSeconds: elapsed, quick });
console.log(markdown);
if (write) {
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const date = new Date().toISOString().slice(0, 10);
  const file = `${dir}${date}-${shortMachine(machine)}.md`;
  writeFileSync(file, `# Benchmark run ${new Date().toISOString()}\n\n${markdown}\n`);
  writeFileSync(
    `${dir}latest.json`,
    `${JSON.stringify({ date: new Date().toISOString(), quick, elapsedSeconds: elapsed, command: 'npm run bench', machine, results, failures }, null, 2)}\n`,
  );
  log(`wrote ${file} and ${dir}latest.json`);
}
process.exitCode = failures.length ? 1 : 0;
