import { hostname } from 'node:os';

/**
 * What a scratch database's comment says about its creator: a run interrupted before its teardown
 * (Ctrl-C during `npm test`) leaves its databases behind, and a later run may drop exactly those —
 * marked by this tool, created on this host, by a process that no longer exists — and nothing else.
 */
const PREFIX = 'strata scratch database';

/** The comment `createScratchDatabase` puts on a database it creates. Only [a-z0-9._=; -]: no quoting needed. */
export function scratchMark(pid: number = process.pid, host: string = hostname()): string {
  return `${PREFIX}; host=${host.replace(/[^A-Za-z0-9.-]/g, '_')}; pid=${pid}`;
}

/** The creator a comment names, or undefined when the comment is not one of ours. */
export function parseScratchMark(comment: string | null): { host: string; pid: number } | undefined {
  const match = comment?.match(/^strata scratch database; host=([A-Za-z0-9._-]+); pid=(\d+)$/);
  return match ? { host: match[1]!, pid: Number(match[2]) } : undefined;
}

/** Whether a process of that pid exists here (EPERM: it does, another user's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
