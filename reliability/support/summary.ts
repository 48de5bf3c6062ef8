import type { LedgerEntry } from './ledger.js';

const COLUMNS = [
  ['faultsInjected', 'faults injected'],
  ['operations', 'operations'],
  ['writesAcknowledged', 'writes acknowledged'],
  ['writesFound', 'writes found'],
  ['inputsTried', 'inputs tried'],
  ['hangs', 'hangs'],
  ['unhandledRejections', 'unhandled rejections'],
] as const;

/** The ledger summed per category, as a Markdown table with a total row. */
export function summarize(entries: readonly LedgerEntry[]): string {
  const byCategory = new Map<string, Record<string, number>>();
  const total: Record<string, number> = {};
  for (const e of entries) {
    const row = byCategory.get(e.category) ?? { scenarios: 0 };
    row.scenarios = (row.scenarios ?? 0) + 1;
    total.scenarios = (total.scenarios ?? 0) + 1;
    for (const [key] of COLUMNS) {
      const v = e[key] ?? 0;
      row[key] = (row[key] ?? 0) + v;
      total[key] = (total[key] ?? 0) + v;
    }
    byCategory.set(e.category, row);
  }
  const header = ['category', 'scenarios', ...COLUMNS.map(([, label]) => label)];
  const line = (name: string, r: Record<string, number>) =>
    `| ${[name, r.scenarios ?? 0, ...COLUMNS.map(([key]) => r[key] ?? 0)].join(' | ')} |`;
  const lost = (total.writesAcknowledged ?? 0) - (total.writesFound ?? 0);
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...[...byCategory].sort(([a], [b]) => a.localeCompare(b)).map(([name, r]) => line(name, r)),
    line('**total**', total),
    '',
    `Acknowledged writes lost: ${lost}. Hangs: ${total.hangs ?? 0}.`,
  ].join('\n');
}
