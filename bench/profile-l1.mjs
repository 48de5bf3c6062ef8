// Where a Strata L1 hit spends its time: `node --cpu-prof bench/profile-l1.mjs` (after a build),
// (`--peek` for the synchronous read), then read the .cpuprofile (Chrome DevTools, or `node bench/profile-l1.mjs --summary <file>`).
// The devstack is up (set-up only): every timed get is an L1 hit, no round trip.
import { readFileSync } from 'node:fs';

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
  for (const [key, n] of [...self].sort((x, y) => y[1] - x[1]).slice(0, 25)) {
    console.log(`${((100 * n) / total).toFixed(1).padStart(5)} %  ${key}`);
  }
  process.exit(0);
}

const { openStack, playerRow } = await import('./lib/stack.mjs');
const stack = await openStack();
const { strata, schema } = stack.strata({ prefix: 'prof' });
await strata.migrate();
const rows = Array.from({ length: 10_000 }, (_, i) => playerRow('pf', i));
await strata.setMany(schema, rows);
const ids = rows.map((r) => r.id);
let found = 0;
for (const id of ids) if (await strata.find(schema, id)) found++;
if (found !== ids.length) throw new Error(`only ${found} rows in L1`);
// `--peek`: profile the synchronous read instead (no promise, the clock read once per run).
const peek = process.argv.includes('--peek');
const start = process.hrtime.bigint();
const N = Number(process.env.PROFILE_N ?? 3_000_000);
if (peek) for (let i = 0; i < N; i++) strata.peek(schema, ids[i % 10_000]);
else for (let i = 0; i < N; i++) await strata.get(schema, ids[i % 10_000]);
console.log(
  `${(Number(process.hrtime.bigint() - start) / N).toFixed(0)} ns per L1 hit ${peek ? 'peek' : 'get'}`,
);
await stack.cleanup();
