import type { WriteQueue } from '../src/queue/types.js';

/** What `steadyWriter` runs and tells. */
export interface SteadyWriter {
  /** The ids acknowledged so far, in the order they were. */
  readonly acked: readonly string[];
  /** Resolves once the first `width` writes are acknowledged (or the writer stopped before). */
  readonly started: Promise<void>;
  /** Resolves when the writer has stopped: `max` written, `ms` passed, or `stop()`. */
  readonly done: Promise<void>;
  /** Resolves at the next acknowledgement, or at once when the writer has stopped. */
  next(): Promise<void>;
  stop(): void;
}

/**
 * `width` loops each writing a new id (`<prefix><n>`) through `write` as soon as its last was
 * acknowledged, until `max` are, `ms` have passed or `stop()`: the app's other instances writing all
 * the time, for tests of what `flushDirty` waits for. It stops by itself; a failed write rejects `done`.
 * @example
 * const writing = steadyWriter((id) => other.set(items, { id, n: 1 }));
 * await writing.started;
 */
export function steadyWriter(
  write: (id: string) => Promise<unknown>,
  { max = 5_000, ms = 20_000, width = 4, prefix = 'w' } = {},
): SteadyWriter {
  const acked: string[] = [];
  let stopped = false;
  let waiting: (() => void)[] = [];
  const wake = () => {
    for (const resolve of waiting) resolve();
    waiting = [];
  };
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  const deadline = Date.now() + ms;
  let count = 0;
  const loop = async () => {
    while (!stopped && count < max && Date.now() < deadline) {
      const id = `${prefix}${count++}`;
      await write(id);
      acked.push(id);
      wake();
      if (acked.length === width) markStarted();
    }
  };
  const done = Promise.all(Array.from({ length: width }, loop)).then(
    () => undefined,
    (err: unknown) => {
      stopped = true;
      throw err;
    },
  );
  const end = () => {
    stopped = true;
    markStarted();
    wake();
  };
  done.then(end, end);
  return {
    acked,
    started,
    done,
    next: () => (stopped ? Promise.resolve() : new Promise<void>((resolve) => waiting.push(resolve))),
    stop: () => {
      stopped = true;
    },
  };
}

/**
 * `queue`, whose `take` first waits for `writer`'s next acknowledged write: every flush round then
 * finds a new write, as under steady load, whatever the speeds of the writer and of the flush. The
 * other calls go to `queue` as they are; `close` is left to whoever else was given `queue`.
 */
export function takesAfterEachWrite(queue: WriteQueue, writer: SteadyWriter): WriteQueue {
  const { take, position, heldUpTo, after } = queue;
  if (take === undefined) throw new Error(`${queue.name} is not a pull queue: it has no take()`);
  return {
    name: queue.name,
    ...(queue.flushLoop && { flushLoop: queue.flushLoop }),
    enqueue: (writes) => queue.enqueue(writes),
    take: async (max) => {
      await writer.next();
      return take.call(queue, max);
    },
    ack: (handles) => queue.ack(handles),
    retry: (handles) => queue.retry(handles),
    deadLetter: (deliveries, reason) => queue.deadLetter(deliveries, reason),
    pending: () => queue.pending(),
    ...(position && { position: () => position.call(queue) }),
    ...(heldUpTo && { heldUpTo: (at: string, max: number) => heldUpTo.call(queue, at, max) }),
    ...(after && { after: (at: string, handle: string) => after.call(queue, at, handle) }),
    close: async () => undefined,
  };
}
