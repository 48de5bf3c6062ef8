import { type CompiledSchema, isStrataError, type MigrationRecord } from '@strata/core';
import type { NodeStrata } from '../create-strata.js';
import { type MigrateFromResult, migrateFrom } from '../migrate-from.js';
import type { Command, Invocation } from './args.js';
import { CliFailure } from './cli-errors.js';
import { type Progress, progress } from './progress.js';
import { type PreparedRelay, runRelay } from './relay-command.js';

export interface CommandContext {
  node: NodeStrata;
  invocation: Invocation;
  schemas: readonly CompiledSchema[];
  /** Told the size of each page the L3 scans return; `warm` sets it to advance its progress. */
  scans: { onPage: (rows: number) => void };
  out: (text: string) => void;
  progressOut: NodeJS.WriteStream;
  /** `relay` only: the relay `prepareRelay` wired into the options before they connected. */
  relay?: PreparedRelay;
}

type Run = (ctx: CommandContext) => Promise<void>;

const migrate: Run = async ({ node, out }) => {
  const { applied, records } = await node.strata.migrate();
  for (const statement of applied) out(`${statement}\n`);
  out(
    applied.length === 0
      ? 'up to date\n'
      : `applied ${applied.length} statement(s) for ${records.map((r) => r.schema ?? r.fileName).join(', ')}\n`,
  );
};

const migrateFromDir: Run = async ({ node, invocation, out }) => {
  let result: MigrateFromResult;
  try {
    result = await migrateFrom(node, invocation.operands[0]!);
  } catch (error) {
    throw stoppedRun(error, out);
  }
  for (const record of result.applied) out(`applied ${record.fileName}\n`);
  out(`${result.applied.length} applied, ${result.skipped.length} already applied\n`);
};

/** A failed migrate-from, saying which files of the run stay applied and which were not. */
function stoppedRun(error: unknown, out: (text: string) => void): unknown {
  const details = isStrataError(error) ? error.details : undefined;
  const applied = details?.applied;
  const notApplied = details?.notApplied;
  if (!Array.isArray(applied) || !Array.isArray(notApplied)) return error;
  for (const file of applied) out(`applied ${String(file)}\n`);
  const list = (files: unknown[]): string => (files.length === 0 ? 'none' : files.join(', '));
  return new CliFailure(
    `${(error as Error).message}. Applied by this run (they stay): ${list(applied)}; not applied: ${list(notApplied)}`,
    { cause: error },
  );
}

function statusLine(record: MigrationRecord): string {
  const when = Number.isNaN(record.appliedAt.getTime()) ? '-' : record.appliedAt.toISOString();
  const origin = record.schema ?? '(file)';
  return `${String(record.id).padStart(4)}  ${when}  ${origin}  ${record.fileName}  ${record.checksum.slice(0, 12)}\n`;
}

const status: Run = async ({ node, invocation, out }) => {
  const records = await node.strata.migrationStatus();
  if (invocation.json) {
    out(`${JSON.stringify(records, null, 2)}\n`);
    return;
  }
  if (records.length === 0) out('no migrations applied\n');
  for (const record of records) out(statusLine(record));
};

const warm: Run = async (ctx) => {
  const { node, invocation, out } = ctx;
  const name = invocation.operands[0]!;
  const limit = invocation.limit;
  const rows = await node.strata.count(name);
  const bar: Progress = progress(
    ctx.progressOut,
    `warm ${name}`,
    limit === undefined ? rows : Math.min(limit, rows),
  );
  ctx.scans.onPage = (n) => bar.advance(n);
  const warmed = await node.strata.warmCache(name, limit ?? 0);
  bar.done();
  out(`warmed ${warmed} rows of ${name}\n`);
};

const stats: Run = async ({ node, schemas, out }) => {
  const rows: Record<string, number> = {};
  for (const schema of schemas)
    if (schema.l3 !== false) rows[schema.name] = await node.strata.count(schema.name);
  const migrations = (await node.strata.migrationStatus()).length;
  out(`${JSON.stringify({ rows, migrations, instance: node.strata.stats() }, null, 2)}\n`);
};

const invalidate: Run = async ({ node, invocation, out }) => {
  const [name, id] = invocation.operands as [string, string | undefined];
  if (id === undefined) {
    await node.strata.invalidateAll(name);
    out(`invalidated every cached row of ${name}\n`);
  } else {
    await node.strata.invalidate(name, id);
    out(`invalidated ${name} ${id}\n`);
  }
};

/** `capture install|remove|check`: Postgres triggers that log writes made outside Strata. */
const capture: Run = async ({ node, invocation, out }) => {
  const action = invocation.operands[0];
  if (action === 'check') {
    const report = await node.strata.capture.check();
    if (invocation.json) out(`${JSON.stringify(report, null, 2)}\n`);
    else
      for (const c of report) {
        // How schema changes (ALTER TABLE) reach the log: as they commit, or by the periodic check.
        const ddl = c.ddl === 'event-trigger' ? 'event trigger' : 'fingerprint check';
        out(
          c.installed
            ? `${c.schema}: installed (schema changes: ${ddl})\n`
            : `${c.schema}: missing ${c.missing.join(', ')}\n`,
        );
      }
    const incomplete = report.filter((c) => !c.installed).map((c) => c.schema);
    if (incomplete.length > 0) {
      throw new CliFailure(
        `change capture is not complete for ${incomplete.join(', ')}: run strata capture install`,
      );
    }
    return;
  }
  const statements =
    action === 'install' ? await node.strata.capture.install() : await node.strata.capture.remove();
  // A function's body runs to dozens of lines: its first line names it.
  for (const statement of statements) {
    const [first] = statement.split('\n', 1);
    out(`${first}${first === statement ? '' : ' …'}\n`);
  }
  out(
    `${action === 'install' ? 'installed' : 'removed'} change capture (${statements.length} statement(s))\n`,
  );
};

const relay: Run = (ctx) => {
  if (!ctx.relay) throw new Error('strata relay: the relay was not prepared (prepareRelay)');
  return runRelay(ctx, ctx.relay);
};

export const COMMANDS: Record<Command, Run> = {
  migrate,
  'migrate-from': migrateFromDir,
  status,
  warm,
  stats,
  invalidate,
  capture,
  relay,
};

/** What a command cannot do without: refused up front, before anything connects. */
export const NEEDS: Record<Command, { schemas: boolean; redis: boolean }> = {
  migrate: { schemas: true, redis: false },
  'migrate-from': { schemas: false, redis: false },
  status: { schemas: false, redis: false },
  warm: { schemas: true, redis: true },
  stats: { schemas: false, redis: false },
  invalidate: { schemas: true, redis: true },
  capture: { schemas: true, redis: false },
  relay: { schemas: true, redis: true },
};
