import { parseArgs } from 'node:util';
import type { Duration } from '@strata/core';
import { toMs } from '@strata/core/driver';
import { UsageError } from './cli-errors.js';

export type Command =
  | 'migrate'
  | 'migrate-from'
  | 'status'
  | 'warm'
  | 'stats'
  | 'invalidate'
  | 'capture'
  | 'relay';

/** What `capture` does: install, remove or check the change-capture triggers. */
export const CAPTURE_ACTIONS = ['install', 'remove', 'check'] as const;

export interface Invocation {
  command: Command | 'help';
  /** The command's operands, e.g. ['players', 'p1'] for `invalidate players p1`. */
  operands: string[];
  config: string | undefined;
  /** Undefined: no limit. */
  limit: number | undefined;
  json: boolean;
  verbose: boolean;
  /** relay: how often it reads the change log (ms); undefined: the config's, else 1 s. */
  intervalMs: number | undefined;
  /** relay: one pass, then exit. */
  once: boolean;
}

/** How many operands each command takes: [min, max]. */
const OPERANDS: Record<Command, readonly [number, number]> = {
  migrate: [0, 0],
  'migrate-from': [1, 1],
  status: [0, 0],
  warm: [1, 1],
  stats: [0, 0],
  invalidate: [1, 2],
  capture: [1, 1],
  relay: [0, 0],
};

function isCommand(word: string): word is Command {
  return Object.hasOwn(OPERANDS, word);
}

/** ` (did you mean migrate?)` for a command one or two letters off (`migrat`, `stauts`), else ''. */
function didYouMean(word: string): string {
  const meant = Object.keys(OPERANDS).find((command) => distance(word, command) <= 2);
  return meant ? ` (did you mean ${meant}?)` : '';
}

/** Levenshtein distance: letters inserted, deleted or replaced to turn `a` into `b`. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/** Parses argv (without node and the script); anything it cannot run is a UsageError. */
export function parseInvocation(argv: readonly string[]): Invocation {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  const verbose = values.verbose ?? false;
  const base = {
    config: values.config,
    json: values.json ?? false,
    verbose,
    limit: undefined,
    intervalMs: undefined,
    once: false,
  };
  if (values.help) return { ...base, command: 'help', operands: [] };
  const [word, ...operands] = positionals;
  if (word === undefined) throw new UsageError('no command given');
  if (!isCommand(word)) throw new UsageError(`unknown command: ${word}${didYouMean(word)}`);
  const [min, max] = OPERANDS[word];
  if (operands.length < min || operands.length > max) {
    throw new UsageError(
      `${word} takes ${min === max ? min : `${min} to ${max}`} argument(s), got ${operands.length}`,
    );
  }
  if (word === 'capture' && !(CAPTURE_ACTIONS as readonly string[]).includes(operands[0]!)) {
    throw new UsageError(`capture takes ${CAPTURE_ACTIONS.join(', ')}, not ${JSON.stringify(operands[0])}`);
  }
  if (values.limit !== undefined && word !== 'warm') throw new UsageError('--limit applies to warm only');
  if (values.interval !== undefined && word !== 'relay')
    throw new UsageError('--interval applies to relay only');
  if (values.once !== undefined && word !== 'relay') throw new UsageError('--once applies to relay only');
  return {
    ...base,
    command: word,
    operands,
    limit: parseLimit(values.limit),
    intervalMs: parseInterval(values.interval),
    once: values.once ?? false,
  };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      limit: { type: 'string' },
      interval: { type: 'string' },
      once: { type: 'boolean' },
      json: { type: 'boolean' },
      verbose: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function parseLimit(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)) || Number(text) < 1) {
    throw new UsageError(`--limit must be a whole number of at least 1, not ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** A duration as the config takes it ('500ms', '2s', '1m'), or bare milliseconds; never 0. */
function parseInterval(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const message = `--interval must be a duration above 0 such as 500ms, 2s or 1m, not ${JSON.stringify(text)}`;
  let ms: number;
  try {
    ms = toMs((/^\d+$/.test(text) ? Number(text) : text) as Duration, '--interval');
  } catch (error) {
    throw new UsageError(message, { cause: error });
  }
  if (ms < 1) throw new UsageError(message);
  return ms;
}
