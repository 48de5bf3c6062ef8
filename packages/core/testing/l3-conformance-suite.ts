import type { Database } from '../src/l3/database.js';
import type { L3Tier, Row } from '../src/l3/types.js';

/** One statement as the driver sent it. */
export interface LoggedStatement {
  query: string;
  params: readonly unknown[];
}

/** What every part of the conformance suite shares: one fixture, one Postgres schema, one log. */
export interface L3Suite {
  readonly schemaName: string;
  /** Every statement logged so far, in order; parts take `length` as a mark and read past it. */
  readonly log: LoggedStatement[];
  l3(): L3Tier;
  /** The fixture's database, if it gave one: catalog checks skip without it. */
  db(): Database | undefined;
}

/** Statements logged after `mark` (a previous `log.length`) whose SQL starts with `prefix`. */
export function loggedSince(suite: L3Suite, mark: number, prefix = ''): LoggedStatement[] {
  return suite.log.slice(mark).filter((s) => s.query.startsWith(prefix));
}

export async function rejection(promise: Promise<unknown>): Promise<Error & { code?: unknown }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof Error)) throw new Error(`expected a rejection, got ${String(error)}`);
  return error;
}

export const byId = (a: Row, b: Row): number => String(a.id).localeCompare(String(b.id));
