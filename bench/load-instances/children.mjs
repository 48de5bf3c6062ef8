// The N child processes of one cell of the load bench: forked together, spoken to over IPC, and
// stopped by their PIDs (SIGKILL) when one fails, times out or the bench ends. Nothing here outlives
// the parent: a child exits when its IPC channel closes.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./child.mjs', import.meta.url));
/** Every child not yet exited, for the bench's watchdog and signal handlers. */
const live = new Set();

/** One child: `request(message, reply, timeoutMs)` sends and waits for the reply of that op. */
function openChild(config) {
  const child = fork(CHILD, [], {
    env: { ...process.env, LOAD_CHILD: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Set();
  let exited;
  const handle = {};
  const settleAll = (error) => {
    for (const w of waiting) w.reject(error);
    waiting.clear();
  };
  child.on('message', (message) => {
    if (message.op === 'failed') return settleAll(new Error(`load child ${config.index}: ${message.error}`));
    for (const w of waiting) if (w.op === message.op) w.resolve(message);
  });
  child.on('exit', (code, signal) => {
    exited = { code, signal };
    live.delete(handle);
    settleAll(new Error(`load child ${config.index} exited (${signal ?? code})`));
  });
  /** Waits for the next `op` from the child (registered before anything is sent). */
  const next = (op, timeoutMs) =>
    new Promise((resolve, reject) => {
      if (exited) return reject(new Error(`load child ${config.index} has exited`));
      const w = { op, resolve, reject };
      const timer = setTimeout(() => {
        waiting.delete(w);
        reject(new Error(`load child ${config.index}: no ${op} within ${timeoutMs} ms`));
      }, timeoutMs);
      w.resolve = (m) => {
        clearTimeout(timer);
        waiting.delete(w);
        resolve(m);
      };
      w.reject = (e) => {
        clearTimeout(timer);
        waiting.delete(w);
        reject(e);
      };
      waiting.add(w);
    });
  const ready = next('ready', 60_000);
  ready.catch(() => {}); // awaited by forkChildren; a second failing child must not go unhandled
  Object.assign(handle, {
    pid: child.pid,
    ready,
    async request(message, reply, timeoutMs) {
      const answer = next(reply, timeoutMs);
      child.send(message);
      return answer;
    },
    /** Resolves once the process has exited (at once if it has). */
    exited: () => (exited ? Promise.resolve() : new Promise((resolve) => child.once('exit', resolve))),
    kill() {
      if (exited || child.pid === undefined) return;
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // Gone between the check and the kill: nothing to stop.
      }
    },
  });
  live.add(handle);
  return handle;
}

/**
 * Forks `n` children with `config` (each also told its `index`), waits until every one is ready and
 * returns them. On a failure every child is killed by its PID before the error is thrown.
 */
export async function forkChildren(n, config) {
  const children = Array.from({ length: n }, (_, index) => openChild({ ...config, index }));
  try {
    await Promise.all(children.map((c) => c.ready));
    return children;
  } catch (error) {
    killAll(children);
    throw error;
  }
}

/** Each child's reply to one message, in parallel; kills them all if any fails. */
export async function askAll(children, message, reply, timeoutMs) {
  try {
    return await Promise.all(children.map((c) => c.request(message, reply, timeoutMs)));
  } catch (error) {
    killAll(children);
    throw error;
  }
}

/** Asks every child to close and waits for it to exit; kills by PID whoever is not gone in time. */
export async function closeAll(children, timeoutMs = 15_000) {
  const closing = askAll(children, { op: 'close' }, 'closed', timeoutMs).catch((error) => error);
  const timer = setTimeout(() => killAll(children), timeoutMs + 1_000);
  const outcome = await closing;
  await Promise.all(children.map((c) => c.exited()));
  clearTimeout(timer);
  if (outcome instanceof Error) throw outcome;
}

export function killAll(children) {
  for (const c of children) c.kill();
}

/** Kills every child this process forked that is still running (by PID). */
export function killLive() {
  killAll([...live]);
}
