/**
 * Parsing request bodies into Redis commands, and deciding where each command may run.
 */
import { refusal } from './allowlist.js';
import { isBlocking } from './blocking.js';

/** One Redis command: upper-cased name and its arguments. */
export interface RedisCommand {
  /**
   * Upper case on purpose: ioredis keys its reply transformers (HGETALL -> object, ZRANGE pairs, XREAD…) and
   * connection-state tracking on lower-case names, so an upper-case name reaches Redis untouched and the reply
   * keeps its RESP2 shape.
   */
  name: string;
  args: (string | Buffer)[];
}

/** A client mistake that maps to an HTTP status and an Upstash `{"error"}` body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/**
 * Most arguments one command may carry (its name included). Redis itself takes more, but a command
 * this long is a mistake or an attack, and it costs every layer here memory; Upstash caps the
 * request size instead (see DEFAULT_MAX_BODY_BYTES).
 */
export const MAX_COMMAND_ARGS = 100_000;

/** `["SET","k","v"]` -> a command. The client sends strings, numbers and booleans; anything else is rejected. */
export function parseCommand(value: unknown): RedisCommand {
  if (!Array.isArray(value) || value.length === 0) {
    throw new HttpError(
      400,
      'ERR the request body must be a non-empty JSON array like ["SET","key","value"]',
    );
  }
  if (value.length > MAX_COMMAND_ARGS) {
    throw new HttpError(
      400,
      `ERR a command may have at most ${MAX_COMMAND_ARGS} arguments, this one has ${value.length}`,
    );
  }
  const parts = value.map((part: unknown, index) => {
    if (typeof part === 'string') return part;
    if (typeof part === 'number' || typeof part === 'boolean') return String(part);
    throw new HttpError(400, `ERR argument ${index} must be a string, number or boolean`);
  });
  const [name, ...args] = parts as [string, ...string[]];
  if (name.length === 0) throw new HttpError(400, 'ERR empty command name');
  return { name: name.toUpperCase(), args };
}

/** `[["SET","k","v"],["GET","k"]]` -> commands. */
export function parseCommandList(value: unknown): RedisCommand[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new HttpError(400, 'ERR the request body must be a non-empty JSON array of commands');
  }
  return value.map((command: unknown) => parseCommand(command));
}

type Route = { kind: 'shared' } | { kind: 'blocking' } | { kind: 'rejected'; message: string };

/**
 * These change the state of the connection they run on. The shared connection serves every request,
 * so one client's SELECT or MULTI would leak into everybody else's commands.
 */
const CONNECTION_STATE = new Set([
  'AUTH',
  'DISCARD',
  'EXEC',
  'HELLO',
  'MONITOR',
  'MULTI',
  'PSUBSCRIBE',
  'PSYNC',
  'PUNSUBSCRIBE',
  'QUIT',
  'READONLY',
  'READWRITE',
  'REPLCONF',
  'RESET',
  'SELECT',
  'SSUBSCRIBE',
  'SUBSCRIBE',
  'SUNSUBSCRIBE',
  'SYNC',
  'UNSUBSCRIBE',
  'UNWATCH',
  'WATCH',
]);

/** Where a command runs: the shared connection, a dedicated short-lived one (blocking), or nowhere. */
export function routeCommand(command: RedisCommand): Route {
  const { name, args } = command;
  if (CONNECTION_STATE.has(name)) {
    const hint = name.endsWith('SUBSCRIBE')
      ? ' (use the /subscribe/<channel> endpoint)'
      : name === 'MULTI' || name === 'EXEC'
        ? ' (use the /multi-exec endpoint)'
        : '';
    return {
      kind: 'rejected',
      message: `ERR ${name} is not supported over REST: it changes connection state${hint}`,
    };
  }
  const refused = refusal(name, args[0] === undefined ? undefined : argText(args[0]));
  if (refused) return { kind: 'rejected', message: refused };
  return isBlocking(command) ? { kind: 'blocking' } : { kind: 'shared' };
}

function argText(arg: string | Buffer | undefined): string {
  if (arg === undefined) return '';
  return typeof arg === 'string' ? arg : arg.toString('utf8');
}
