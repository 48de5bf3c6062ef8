// Whether one JSON.parse over a batch's joined payloads beats one JSON.parse per payload (issue 15,
// twelfth pass): 1,000 rows of the bench's shape behind an envelope-sized header, fresh strings
// (as ioredis makes them) each round, the three decodes interleaved in shuffled order; ioredis
// loaded, as in the read path. No Redis, no engine. `node bench/json-joined.mjs [--rounds 1500]`.
import 'ioredis';
import { arg } from './lib/args.mjs';
import { playerRow } from './lib/stack.mjs';
import { seededRandom, shuffled } from './lib/stats.mjs';

const N = 1_000;
const rounds = Number(arg('--rounds', 1_500));
const HEADER = '~1;r;0;17;3;1796602540763;1796602540763;k3x9a1;';
const at = HEADER.length;
const fresh = (s) => Buffer.from(s).toString('utf8');
const values = (round) =>
  Array.from({ length: N }, (_, i) => {
    const row = playerRow(`j${round}x`, i);
    return fresh(HEADER + JSON.stringify(row));
  });
const sides = {
  'one JSON.parse per payload': (vals) => {
    const out = new Array(N);
    for (let i = 0; i < N; i++) out[i] = JSON.parse(vals[i].slice(at));
    return out;
  },
  "one JSON.parse of '[' + payloads.join(',') + ']'": (vals) => {
    const parts = new Array(N);
    for (let i = 0; i < N; i++) parts[i] = vals[i].slice(at);
    return JSON.parse(`[${parts.join(',')}]`);
  },
  'one JSON.parse of the payloads concatenated': (vals) => {
    let s = '[';
    for (let i = 0; i < N; i++) s += (i > 0 ? ',' : '') + vals[i].slice(at);
    return JSON.parse(`${s}]`);
  },
};
const times = new Map(Object.keys(sides).map((k) => [k, []]));
const random = seededRandom();
let rows = 0;
for (let round = 0; round < rounds; round++) {
  for (const name of shuffled(Object.keys(sides), random)) {
    const vals = values(round);
    const start = process.cpuUsage();
    rows += sides[name](vals).length;
    const used = process.cpuUsage(start);
    if (round >= 200) times.get(name).push(used.user + used.system);
  }
}
const median = (list) => [...list].sort((a, b) => a - b)[list.length >> 1];
const first = median(times.get(Object.keys(sides)[0]));
for (const [name, list] of times)
  console.log(`${name}: ${median(list)} µs CPU (${(median(list) / first).toFixed(3)}×)`);
if (rows !== rounds * N * 3) throw new Error('a decode lost rows');
