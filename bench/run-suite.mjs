// One suite in a process of its own, forked by run.mjs (lib/fork-suite.mjs): opens its own stack
// (devstack, Postgres schema, Redis keys) under the name it is given, runs the suite once, sends
// `{ out, load, cleaned }` or `{ error, cleaned }` back over IPC, cleans up and exits. A suite run
// after another in one process was measured slower (heap, tables and caches the first left), see
// bench/README.md; here nothing outlives a suite.
//
//   node run-suite.mjs '{"key":"search","name":"t_bench_…_search_r1","quick":false}'   (with an IPC channel)
//
// `from` (tests only: scripts/bench-isolation.test.ts) names a module whose export `key` is run
// instead of a suite of lib/suites.mjs.
//
// Signals: run.mjs forwards each SIGINT/SIGTERM it gets. The first lets the suite finish and clean
// up; a second exits at once. A parent gone (IPC disconnected) is treated like the first.
import './lib/peer-resolve.mjs';
import os from 'node:os';

const { key, name, quick, from } = JSON.parse(process.argv[2] ?? '{}');
const log = (message) => console.error(`bench: ${message}`);
if (!process.send) throw new Error('run-suite.mjs is forked by run.mjs (it reports over IPC)');

let signalled = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (signalled) process.exit(130);
    signalled = true;
  });
}
process.on('disconnect', () => {
  signalled = true;
});

// Imported after the resolve hook is registered (bentocache's Redis driver needs it).
const { openStack } = await import('./lib/stack.mjs');
const { suites } = await import('./lib/suites.mjs');
const entry = from ? [key, key, async () => (await import(from))[key]] : suites.find(([k]) => k === key);
const loadavg = () => os.loadavg().map((l) => Math.round(l * 100) / 100);
/** The first lines of an error, as run.mjs prints and records a failure. */
const messageOf = (err) =>
  err instanceof Error ? err.message.split('\n').slice(0, 6).join('\n').slice(0, 800) : String(err);

let reply;
let stack;
try {
  if (!entry) throw new Error(`no suite "${key}"`);
  stack = await openStack({ name });
  const suite = await entry[2]();
  // The load average (1, 5, 15 min) around the suite itself, not the process's start and cleanup.
  const before = loadavg();
  const out = await suite(stack, { quick, log });
  reply = { out, load: { before, after: loadavg() } };
} catch (err) {
  reply = { error: messageOf(err) };
}
// Nothing is created before the stack is open: without one there is nothing to remove.
let cleaned = stack === undefined;
try {
  await stack?.cleanup();
  cleaned = true;
} catch (err) {
  log(`${key}: cleanup failed (run.mjs sweeps ${name}): ${messageOf(err)}`);
}
if (!process.connected) process.exit(130);
const send = (message) =>
  new Promise((resolve, reject) => process.send(message, (err) => (err ? reject(err) : resolve())));
try {
  await send({ ...reply, cleaned });
} catch (err) {
  // What a suite returns crosses as a structured clone (NaN and undefined kept, unlike JSON).
  await send({ error: `${key}: its result cannot be sent to run.mjs: ${messageOf(err)}`, cleaned });
}
// Exits once the reply is sent: a handle a suite left open must not keep the run waiting.
process.exit(0);
