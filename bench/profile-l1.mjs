// Where a Strata L1 hit spends its time: `node --cpu-prof bench/profile-l1.mjs` (after a build),
// (`--peek` for the synchronous read), then read the .cpuprofile (Chrome DevTools, or `node bench/profile-l1.mjs --summary <file> [--calls <n>]`).
// The devstack is up (set-up only): every timed get is an L1 hit, no round trip.
import { readFileSync } from 'node:fs';
import { arg } from './lib/args.mjs';

if (process.argv[2] === '--summary') {
  const profile = JSON.parse(readFileSync(process.argv[3], 'utf8'));
  const self = new Map();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  let total = 0;
  for (const [id, n] of counts) {
    const node = byId.get(id);
    const f = node.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + n);
    total += n;
  }
  // `--calls <n>`: also the self time per call, in µs (the profile's span over n calls).
  const calls = Number(arg('--calls', 0));
  const spanUs = profile.endTime - profile.startTime;
  const line = (n, key) => {
    const share = n / total;
    const perCall = calls ? `${((share * spanUs) / calls).toFixed(2).padStart(6)} µs  ` : '';
    console.log(`${(100 * share).toFixed(1).padStart(5)} %  ${perCall}${key}`);
  };
  if (calls) console.log(`${(spanUs / calls).toFixed(2)} µs per call in all, over ${calls} calls`);
  for (const [key, n] of [...self].sort((x, y) => y[1] - x[1]).slice(0, Number(process.env.TOP ?? 25)))
    line(n, key);
  // Self time by where the code lives: a package's dist file, a dependency, node's internals, (gc)…
  const byFile = new Map();
  for (const [id, n] of counts) {
    const f = byId.get(id).callFrame;
    const where = f.url
      ? f.url
          .replace(/^.*node_modules\//, '')
          .replace(/^.*\/packages\//, '')
          .replace(/^file:\/\//, '')
      : f.functionName;
    byFile.set(where, (byFile.get(where) ?? 0) + n);
  }
  console.log('\nby file:');
  for (const [key, n] of [...byFile].sort((x, y) => y[1] - x[1]).slice(0, Number(process.env.TOP ?? 25)))
    line(n, key);
  process.exit(0);
}

const { openStack, playerRow } = await import('./lib/stack.mjs');
const { nodeClock } = await import('@strata/adapter-node');
const stack = await openStack();
// The clock createStrata gives a Node process (`--system-clock`: core's default, Date.now() per await).
const clock = process.argv.includes('--system-clock') ? {} : { clock: nodeClock() };
const { strata, schema } = stack.strata({ prefix: 'prof', ...clock });
await strata.migrate();
const rows = Array.from({ length: 10_000 }, (_, i) => playerRow('pf', i));
await strata.setMany(schema, rows);
const ids = rows.map((r) => r.id);
let found = 0;
for (const id of ids) if (await strata.find(schema, id)) found++;
if (found !== ids.length) throw new Error(`only ${found} rows in L1`);
// `--peek`: profile the synchronous read instead (no promise, the clock read once per run).
// `--status`: findWithStatus instead (the per-call status).
const peek = process.argv.includes('--peek');
const status = process.argv.includes('--status');
const start = process.hrtime.bigint();
const N = Number(process.env.PROFILE_N ?? 3_000_000);
if (peek) for (let i = 0; i < N; i++) strata.peek(schema, ids[i % 10_000]);
else if (status) for (let i = 0; i < N; i++) await strata.findWithStatus(schema, ids[i % 10_000]);
else for (let i = 0; i < N; i++) await strata.get(schema, ids[i % 10_000]);
const what = peek ? 'peek' : status ? 'findWithStatus' : 'get';
console.log(`${(Number(process.hrtime.bigint() - start) / N).toFixed(0)} ns per L1 hit ${what}`);
await stack.cleanup();
