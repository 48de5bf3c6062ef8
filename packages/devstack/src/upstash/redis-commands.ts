/**
 * Runs parsed commands against Redis: single commands, pipelines and MULTI/EXEC transactions.
 */
import type { Redis } from 'ioredis';
import { capTimeout } from './blocking.js';
import { type RedisCommand, routeCommand } from './commands.js';
import type { RedisConnections } from './connections.js';

/** What one command produced. `status` is the HTTP status a lone command reports its error with. */
export type Outcome = { ok: true; reply: unknown } | { ok: false; error: string; status: number };

/** A whole multi-exec request failed (nothing ran, or the transaction was discarded). */
interface TransactionFailure {
  error: string;
  status: number;
}

const ABORTED = 'ERR blocking command aborted: the client went away or the server is stopping';

function failure(error: unknown): Outcome {
  if (error instanceof Error) {
    // Redis' own error replies are the caller's problem (400, like Upstash); anything else is ours.
    const status = error.name === 'ReplyError' ? 400 : 500;
    return { ok: false, error: error.message, status };
  }
  return { ok: false, error: `ERR ${String(error)}`, status: 500 };
}

/** How far blocking commands may go: each holds a Redis connection of its own while it waits. */
interface BlockingLimits {
  /** Blocking commands waiting at once; one more gets 429. */
  maxConcurrent: number;
  /** Longest wait; a longer timeout, or 0 (for ever), is lowered to this. */
  maxSeconds: number;
}

export class CommandRunner {
  #blocking = 0;

  constructor(
    private readonly connections: RedisConnections,
    private readonly shared: Redis,
    private readonly limits: BlockingLimits,
  ) {}

  /** Runs one command; `signal` aborts a blocking command when the HTTP client goes away. */
  run(command: RedisCommand, signal?: AbortSignal): Promise<Outcome> {
    const route = routeCommand(command);
    if (route.kind === 'rejected') return Promise.resolve({ ok: false, error: route.message, status: 400 });
    if (route.kind === 'blocking') return this.#runBlocking(command, signal);
    return this.#runShared(command);
  }

  /**
   * Runs commands in order, not atomically. Non-blocking commands are written back to back on the shared
   * connection (ioredis keeps their order); a blocking command waits for everything before it, and everything
   * after it waits for it, as on a single Redis connection.
   */
  pipeline(commands: RedisCommand[], signal?: AbortSignal): Promise<Outcome[]> {
    const outcomes: Promise<Outcome>[] = [];
    let barrier: Promise<unknown> | undefined;
    for (const command of commands) {
      const route = routeCommand(command);
      if (route.kind === 'rejected') {
        outcomes.push(Promise.resolve({ ok: false, error: route.message, status: 400 }));
      } else if (route.kind === 'blocking') {
        const blocking = Promise.all(outcomes).then(() => this.#runBlocking(command, signal));
        outcomes.push(blocking);
        barrier = blocking;
      } else if (barrier) {
        // Callbacks on one promise run in registration order, so these still reach Redis in pipeline order.
        outcomes.push(barrier.then(() => this.#runShared(command)));
      } else {
        outcomes.push(this.#runShared(command));
      }
    }
    return Promise.all(outcomes);
  }

  /**
   * MULTI/EXEC on the shared connection. ioredis writes MULTI, the commands and EXEC in one go, so no other
   * request's command can land inside the transaction. Blocking commands don't block inside MULTI.
   */
  async multiExec(commands: RedisCommand[]): Promise<Outcome[] | TransactionFailure> {
    for (const command of commands) {
      const route = routeCommand(command);
      if (route.kind === 'rejected') return { error: route.message, status: 400 };
    }
    const transaction = this.shared.multi();
    for (const { name, args } of commands) transaction.callBuffer(name, args);
    let replies: [error: Error | null, reply: unknown][] | null;
    try {
      replies = await transaction.exec();
    } catch (error) {
      return transactionFailure(error);
    }
    if (!replies) return { error: 'EXECABORT Transaction discarded', status: 400 };
    return replies.map(([error, reply]): Outcome => (error ? failure(error) : { ok: true, reply }));
  }

  async #runShared({ name, args }: RedisCommand): Promise<Outcome> {
    try {
      return { ok: true, reply: await this.shared.callBuffer(name, args) };
    } catch (error) {
      return failure(error);
    }
  }

  /**
   * A dedicated connection per blocking command, so a BLPOP never holds up anyone else's requests;
   * bounded in number and in time, so blocking commands cannot use up Redis' clients.
   */
  async #runBlocking(command: RedisCommand, signal?: AbortSignal): Promise<Outcome> {
    if (signal?.aborted) return { ok: false, error: ABORTED, status: 503 };
    if (this.#blocking >= this.limits.maxConcurrent) {
      return {
        ok: false,
        error: `ERR too many blocking commands waiting (the limit is ${this.limits.maxConcurrent}): retry once one has returned`,
        status: 429,
      };
    }
    this.#blocking += 1;
    try {
      return await this.#block(capTimeout(command, this.limits.maxSeconds), signal);
    } finally {
      this.#blocking -= 1;
    }
  }

  async #block({ name, args }: RedisCommand, signal?: AbortSignal): Promise<Outcome> {
    const connection = this.connections.open('blocking');
    const abort = () => void this.connections.close(connection);
    signal?.addEventListener('abort', abort, { once: true });
    try {
      return { ok: true, reply: await connection.callBuffer(name, args) };
    } catch (error) {
      // ioredis only says "Connection is closed."; say why we closed it.
      if (signal?.aborted) return { ok: false, error: ABORTED, status: 503 };
      return failure(error);
    } finally {
      signal?.removeEventListener('abort', abort);
      await this.connections.close(connection);
    }
  }
}

function transactionFailure(error: unknown): TransactionFailure {
  if (!(error instanceof Error)) return { error: `ERR ${String(error)}`, status: 500 };
  // EXECABORT alone does not say what was wrong; ioredis keeps the queueing errors alongside it.
  const previous: unknown = (error as { previousErrors?: unknown }).previousErrors;
  const causes = Array.isArray(previous)
    ? previous.filter((cause): cause is Error => cause instanceof Error).map((cause) => cause.message)
    : [];
  const message = causes.length > 0 ? `${error.message} ${causes.join('; ')}` : error.message;
  return { error: message, status: error.name === 'ReplyError' ? 400 : 500 };
}
