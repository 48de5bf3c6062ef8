import type { CompiledSchema, MigrationRecord } from '@strata/core';
import type { NodeStrata } from '../create-strata.js';
import { migrateFrom } from '../migrate-from.js';
import type { Command, Invocation } from './args.js';
import { type Progress, progress } from './progress.js';

export interface CommandContext {
  node: NodeStrata;
  invocation: Invocation;
  schemas: readonly CompiledSchema[];
  /** Told the size of each page the L3 scans return; `warm` sets it to advance its progress. */
  scans: { onPage: (rows: number) => void };
  out: (text: string) => void;
  progressOut: NodeJS.WriteStream;
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
  const { applied, skipped } = await migrateFrom(node, invocation.operands[0]!);
  for (const record of applied) out(`applied ${record.fileName}\n`);
  out(`${applied.length} applied, ${skipped.length} already applied\n`);
};

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

export const COMMANDS: Record<Command, Run> = {
  migrate,
  'migrate-from': migrateFromDir,
  status,
  warm,
  stats,
  invalidate,
};

/** What a command cannot do without: refused up front, before anything connects. */
export const NEEDS: Record<Command, { schemas: boolean }> = {
  migrate: { schemas: true },
  'migrate-from': { schemas: false },
  status: { schemas: false },
  warm: { schemas: true },
  stats: { schemas: false },
  invalidate: { schemas: true },
};
