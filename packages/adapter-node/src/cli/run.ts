import { isStrataError } from '@strata/core';
import { wireStrata } from '../create-strata.js';
import { parseInvocation } from './args.js';
import { UsageError } from './cli-errors.js';
import { COMMANDS, type CommandContext, NEEDS } from './commands.js';
import { loadOptions, noSchemas } from './config.js';
import { assertPostgresReachable, assertRedisReachable } from './reachability.js';
import { prepareRelay } from './relay-command.js';
import { USAGE } from './usage.js';
import { watchScans } from './watch-scans.js';

/** Exit codes: 0 ok, 1 failure, 2 usage error. */
type ExitCode = 0 | 1 | 2;

const out = (text: string): void => void process.stdout.write(text);
const err = (text: string): void => void process.stderr.write(text);

/** Runs one CLI invocation; every error becomes a message on stderr and an exit code. */
export async function run(argv: readonly string[]): Promise<ExitCode> {
  let verbose = argv.includes('--verbose') || argv.includes('-v');
  try {
    const invocation = parseInvocation(argv);
    verbose = invocation.verbose;
    if (invocation.command === 'help') {
      out(USAGE);
      return 0;
    }
    const { command } = invocation;
    const { options, source } = await loadOptions(invocation.config, process.env, process.cwd());
    // Each command reports its outcome in one line of its own: Strata's warnings (its default
    // logger's) only with --verbose, unless the config file gives a logger.
    if (options.logger === undefined && !verbose) options.logger = false;
    if (NEEDS[command].schemas && options.schemas.length === 0) throw noSchemas(command, source);
    if (NEEDS[command].redis) await assertRedisReachable(command, options);
    const scans: CommandContext['scans'] = { onPage: () => {} };
    // The relay is wired in before Strata is built: the engine creates it from the options.
    const relay = command === 'relay' ? prepareRelay(options, invocation) : undefined;
    const wired = relay?.options ?? options;
    const node = await wireStrata(wired, (l3) => watchScans(l3, (rows) => scans.onPage(rows)));
    try {
      await assertPostgresReachable(node.db, options.databaseUrl);
      const ctx: CommandContext = {
        node,
        invocation,
        schemas: options.schemas,
        scans,
        out,
        progressOut: process.stderr,
        ...(relay ? { relay } : {}),
      };
      await COMMANDS[command](ctx);
    } finally {
      await node.shutdown();
    }
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      err(`strata: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    err(`${describe(error, verbose)}\n`);
    return 1;
  }
}

function describe(error: unknown, verbose: boolean): string {
  const message = error instanceof Error ? error.message : String(error);
  const line = message.startsWith('strata:') ? message : `strata: ${message}`;
  if (!verbose) return line;
  const parts = [error instanceof Error && error.stack ? error.stack : line];
  for (let e = (error as { cause?: unknown }).cause, depth = 0; e !== undefined && depth < 5; depth++) {
    parts.push(`caused by: ${e instanceof Error && e.stack ? e.stack : String(e)}`);
    e = (e as { cause?: unknown } | null)?.cause;
  }
  if (isStrataError(error) && error.details) parts.push(`details: ${JSON.stringify(error.details)}`);
  return parts.join('\n');
}
