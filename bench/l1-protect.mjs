// Freeze vs copy for L1 value protection (issue 3): what each costs per write and per hit.
// Run after `npm run build`: node bench/l1-protect.mjs. Ratios are what matter; machines are noisy.
import { deepFreeze, freezeRow } from '@strata/core/driver';

const row = () => ({
  id: 'p1',
  username: 'andrew',
  level: 42,
  xp: 2n ** 40n,
  score: 1234.5,
  active: true,
  createdAt: new Date(),
  profile: { region: 'eu-west', badges: ['a', 'b', 'c'], stats: { wins: 10, losses: 3 } },
});

function time(label, n, fn) {
  for (let i = 0; i < n / 10; i++) fn(i); // warm up
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  const ns = Number(process.hrtime.bigint() - start) / n;
  return { label, ns };
}

const N = 200_000;
const rows = Array.from({ length: N }, row);
const frozen = deepFreeze(row());
const plain = row();
let sink = 0;
const rows2 = Array.from({ length: N }, row);
const results = [
  time('freeze on write (freezeRow)', N, (i) => (sink += freezeRow(rows[i]).level)),
  time('freeze on write (deepFreeze)', N, (i) => (sink += deepFreeze(rows2[i]).level)),
  time('copy on write (structuredClone)', N, (i) => (sink += structuredClone(rows2[i]).level)),
  time('hit, freeze: hand out as is', N, () => (sink += frozen.level)),
  time('hit, copy: structuredClone', N, () => (sink += structuredClone(plain).level)),
];
const base = results[3].ns;
for (const r of results)
  console.log(`${r.label.padEnd(34)} ${r.ns.toFixed(1).padStart(8)} ns/op  ${(r.ns / base).toFixed(1)}x`);
if (sink === 0) console.log('');
