/**
 * Which commands block, and where their timeout is, so the endpoint can bound how long one waits.
 */
import type { RedisCommand } from './commands.js';

type Unit = 'seconds' | 'milliseconds';

/** The index of the timeout argument (undefined when there is none), and its unit. */
interface TimeoutAt {
  index(args: RedisCommand['args']): number | undefined;
  unit: Unit;
}

const last: TimeoutAt['index'] = (args) => (args.length > 0 ? args.length - 1 : undefined);
const first: TimeoutAt['index'] = (args) => (args.length > 0 ? 0 : undefined);

/** XREAD[GROUP] blocks only with a BLOCK option, which must come before STREAMS (after it, args are keys/ids). */
const afterBlock: TimeoutAt['index'] = (args) => {
  for (let i = 0; i < args.length; i += 1) {
    const word = text(args[i]).toUpperCase();
    if (word === 'STREAMS') return undefined;
    if (word === 'BLOCK') return i + 1 < args.length ? i + 1 : undefined;
  }
  return undefined;
};

const TIMEOUTS = new Map<string, TimeoutAt>([
  ['BLPOP', { index: last, unit: 'seconds' }],
  ['BRPOP', { index: last, unit: 'seconds' }],
  ['BRPOPLPUSH', { index: last, unit: 'seconds' }],
  ['BLMOVE', { index: last, unit: 'seconds' }],
  ['BZPOPMIN', { index: last, unit: 'seconds' }],
  ['BZPOPMAX', { index: last, unit: 'seconds' }],
  ['BLMPOP', { index: first, unit: 'seconds' }],
  ['BZMPOP', { index: first, unit: 'seconds' }],
  ['XREAD', { index: afterBlock, unit: 'milliseconds' }],
  ['XREADGROUP', { index: afterBlock, unit: 'milliseconds' }],
]);

/** True when the command may wait in Redis: it then needs a connection of its own. */
export function isBlocking({ name, args }: RedisCommand): boolean {
  const at = TIMEOUTS.get(name);
  return at !== undefined && at.index(args) !== undefined;
}

/**
 * The command with its timeout lowered to `maxSeconds` when it asks for longer or for ever (`0`), so
 * Redis itself ends the wait with the command's own timeout reply (null, or no entries). A timeout
 * that is not a number is left for Redis to reject.
 * @example capTimeout({ name: 'BLPOP', args: ['jobs', '0'] }, 30).args // ['jobs', '30']
 */
export function capTimeout(command: RedisCommand, maxSeconds: number): RedisCommand {
  const at = TIMEOUTS.get(command.name);
  const index = at?.index(command.args);
  if (!at || index === undefined) return command;
  const requested = Number(text(command.args[index]));
  const max = at.unit === 'seconds' ? maxSeconds : Math.round(maxSeconds * 1000);
  if (!Number.isFinite(requested) || requested < 0 || (requested > 0 && requested <= max)) return command;
  const args = [...command.args];
  args[index] = String(max);
  return { name: command.name, args };
}

function text(arg: string | Buffer | undefined): string {
  if (arg === undefined) return '';
  return typeof arg === 'string' ? arg : arg.toString('utf8');
}
