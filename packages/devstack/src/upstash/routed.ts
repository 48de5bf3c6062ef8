/**
 * Requests of an endpoint with a replica (`replicaUrl`): read-only ones to the replica once it shows
 * the client's `upstash-sync-token`, everything else to the primary; each answered with a new token.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, parseCommand, parseCommandList } from './commands.js';
import { resultBody } from './encoding.js';
import { parseJson, sendError, sendJson } from './http-io.js';
import { readsOnly } from './read-only.js';
import type { CommandRunner, Outcome } from './redis-commands.js';
import { type ReplicaReads, requestToken } from './replica-reads.js';
import { pathCommand, sendOutcomes } from './request-parts.js';

export interface RoutedRequest {
  segments: string[];
  url: URL;
  body: Buffer;
  base64: boolean;
  signal: AbortSignal | undefined;
}

export async function serveRouted(
  req: IncomingMessage,
  res: ServerResponse,
  replicas: ReplicaReads,
  runner: CommandRunner,
  { segments, url, body, base64, signal }: RoutedRequest,
): Promise<void> {
  const token = requestToken(req.headers['upstash-sync-token']);
  const [first] = segments;
  const batch = segments.length === 1 && (first === 'pipeline' || first === 'multi-exec');
  if (batch && req.method !== 'POST') throw new HttpError(405, `ERR use POST for /${first}`);

  if (batch && first === 'multi-exec') {
    const commands = parseCommandList(parseJson(body));
    let failed: { status: number; error: string } | undefined;
    const routed = await replicas.onPrimary(async () => {
      const outcomes = await runner.multiExec(commands);
      if (Array.isArray(outcomes)) return outcomes;
      failed = outcomes;
      return [];
    }, token);
    res.setHeader('upstash-sync-token', String(routed.token));
    if (failed) return sendError(res, failed.status, failed.error);
    return sendOutcomes(res, routed.outcomes, base64);
  }

  const commands = batch
    ? parseCommandList(parseJson(body))
    : [segments.length === 0 ? parseCommand(parseJson(body)) : pathCommand(segments, url, body)];
  const onPrimary = (): Promise<Outcome[]> =>
    batch ? runner.pipeline(commands, signal) : runner.run(commands[0]!, signal).then((o) => [o]);
  const routed = readsOnly(commands)
    ? await replicas.read(commands, token, signal)
    : await replicas.onPrimary(onPrimary, token);
  res.setHeader('upstash-sync-token', String(routed.token));
  if (batch) return sendOutcomes(res, routed.outcomes, base64);
  const outcome = routed.outcomes[0]!;
  if (outcome.ok) return sendJson(res, 200, resultBody(outcome.reply, base64));
  return sendError(res, outcome.status, outcome.error);
}
