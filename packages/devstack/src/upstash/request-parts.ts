/**
 * Pieces of a REST request shared by the plain and the replica-routed paths: the URL form of a
 * command, and the JSON answer to a pipeline.
 */
import type { ServerResponse } from 'node:http';
import { parseCommand, type RedisCommand } from './commands.js';
import { errorBody, resultBody } from './encoding.js';
import { sendJson } from './http-io.js';
import type { Outcome } from './redis-commands.js';

export function sendOutcomes(res: ServerResponse, outcomes: Outcome[], base64: boolean): void {
  const items = outcomes.map((outcome) =>
    outcome.ok ? resultBody(outcome.reply, base64) : errorBody(outcome.error),
  );
  sendJson(res, 200, `[${items.join(',')}]`);
}

/**
 * `/set/key/value?EX=60`: path segments, then query parameters as `NAME [value]`, then a POST body (raw bytes,
 * so binary values can be written) as the last argument — the REST API's URL form.
 */
export function pathCommand(segments: string[], url: URL, body: Buffer): RedisCommand {
  const [name, ...args] = segments as [string, ...string[]];
  const command: RedisCommand = parseCommand([name, ...args]);
  for (const [key, value] of url.searchParams) {
    if (key === '_token') continue;
    command.args.push(key);
    if (value !== '') command.args.push(value);
  }
  if (body.length > 0) command.args.push(body);
  return command;
}
