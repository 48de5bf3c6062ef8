// run.mjs' side of run-suite.mjs: one suite, one child process, its result back over IPC.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const runner = fileURLToPath(new URL('../run-suite.mjs', import.meta.url));

/**
 * Runs suite `key` once in a new Node process under the Postgres schema / Redis key name `name`.
 * Resolves to `{ out, load, cleaned }`, or `{ error, cleaned }` when the suite threw; rejects when
 * the process ended without replying (then nothing says it cleaned up: sweep `name`). `onChild`
 * receives the ChildProcess, e.g. to forward signals to it; `execArgv` defaults to this process's
 * Node flags; `from` (tests) is a module whose export `key` runs instead of a registered suite.
 * @example const { out, load } = await forkSuite({ key: 'search', name, quick: false });
 */
export function forkSuite({ key, name, quick, from }, { onChild, execArgv = process.execArgv } = {}) {
  return new Promise((resolve, reject) => {
    const child = fork(runner, [JSON.stringify({ key, name, quick, from })], {
      execArgv,
      // Structured clone, not JSON: a suite's NaN (a number it could not measure) stays NaN.
      serialization: 'advanced',
      // Its own process group: a Ctrl-C reaches it once, forwarded by run.mjs, not twice.
      detached: true,
    });
    onChild?.(child);
    let reply;
    child.on('message', (message) => {
      reply = message;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (reply) resolve(reply);
      else reject(new Error(`its process ended (${signal ?? `exit code ${code}`}) without a result`));
    });
  });
}
