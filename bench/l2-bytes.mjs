// What a byte-returning L2 read could save at most (issue 15, ninth pass): 1,000 values of the
// bench's row shape in Strata's envelope, as ioredis 6 hands an MGET reply to a command with no
// `replyEncoding` (a `Buffer` view of the reply per value, fresh each round), decoded two ways in
// interleaved blocks, timed by this process's CPU time: the string path (each whole value turned into
// a string, as ioredis does for a `utf8` command, its header read from the string, the payload
// sliced and parsed) against the byte path (the header read from the bytes, only the payload
// decoded with `Buffer#utf8Slice`, then parsed). No Redis, no engine: the bound of what the seam
// saves per 1,000 rows. `node bench/l2-bytes.mjs [--rounds 40]`
import { cpuUsage } from 'node:process';
import { arg } from './lib/args.mjs';
import { playerRow } from './lib/stack.mjs';

// As ioredis does: once a process declares this, `s.charCodeAt(i)` is no longer inlined (strings.ts).
globalThis.verbatim = class VerbatimString extends String {};

const rounds = Number(arg('--rounds', 40));
const ROWS = 1_000;
const owner = 'k3x9a1z';
const wire = [];
for (let i = 0; i < ROWS; i++) {
  const payload = JSON.stringify(playerRow('p', i));
  const value = `~1;r;0;${1_000 + i};3;1765000000000;1765000000000;${owner};${payload}`;
  wire.push(Buffer.from(`$${Buffer.byteLength(value)}\r\n${value}\r\n`));
}
const reply = Buffer.concat(wire);

/** Fresh views of the reply, one per value, as the decoder makes them. */
function views() {
  const out = new Array(ROWS);
  let at = 0;
  for (let i = 0; i < ROWS; i++) {
    const n = wire[i].length;
    out[i] = reply.subarray(at + wire[i].indexOf(10) + 1, at + n - 2);
    at += n;
  }
  return out;
}

const code = (s, i) => String.prototype.charCodeAt.call(s, i);
/** Where the payload begins (after the eighth ';'), read as the engine's header reader walks it. */
function payloadAtString(v) {
  let i = 0;
  for (let fields = 0; fields < 8; i++) if (code(v, i) === 59) fields++;
  return i;
}
function payloadAtBytes(v) {
  let i = 0;
  for (let fields = 0; fields < 8; i++) if (v[i] === 59) fields++;
  return i;
}

let sink = 0;
const strings = () => {
  const values = views();
  for (let i = 0; i < ROWS; i++) {
    const s = values[i].toString('utf8');
    sink += JSON.parse(String.prototype.slice.call(s, payloadAtString(s))).level;
  }
};
const bytes = () => {
  const values = views();
  for (let i = 0; i < ROWS; i++) {
    const v = values[i];
    sink += JSON.parse(v.utf8Slice(payloadAtBytes(v), v.length)).level;
  }
};
const block = (f) => {
  const start = cpuUsage();
  for (let k = 0; k < 20; k++) f();
  const d = cpuUsage(start);
  return (d.user + d.system) / 20;
};

for (let w = 0; w < 30; w++) {
  strings();
  bytes();
}
const took = { strings: [], bytes: [] };
for (let r = 0; r < rounds; r++) {
  for (const side of r % 2 ? ['strings', 'bytes'] : ['bytes', 'strings'])
    took[side].push(block(side === 'strings' ? strings : bytes));
}
const median = (a) => a.toSorted((x, y) => x - y)[a.length >> 1];
const [s, b] = [median(took.strings), median(took.bytes)];
console.log(
  `CPU per ${ROWS} values: string path ${s.toFixed(0)} µs | byte path ${b.toFixed(0)} µs | ${(b / s).toFixed(3)}× (${sink > 0 ? 'checked' : '?'})`,
);
