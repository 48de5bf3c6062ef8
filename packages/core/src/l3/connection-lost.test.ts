import { DrizzleQueryError } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { StrataError } from '../errors.js';
import { connectionLost } from './connection-lost.js';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });
/** neon-http's failed fetch, as seen in regression-read-retry-neon-http (the causes as undici gives them). */
function neonFetchFailed(cause: Error): Error {
  const fetchFailed = new TypeError('fetch failed', { cause });
  return Object.assign(new Error(`Error connecting to database: ${fetchFailed}`), {
    sourceError: fetchFailed,
  });
}

describe('connectionLost', () => {
  it.each([
    ['node-postgres, a reset socket', withCode('read ECONNRESET', 'ECONNRESET')],
    ['written after the peer closed', withCode('write EPIPE', 'EPIPE')],
    ['node-postgres, the server closed', new Error('Connection terminated unexpectedly')],
    ['node-postgres, its client ended', new Error('Connection terminated')],
    ['a pool client that broke', new Error('Client has encountered a connection error and is not queryable')],
    ['a pool client that ended', new Error('Client was closed and is not queryable')],
    [
      'Drizzle-wrapped',
      new DrizzleQueryError('select 1', [], new Error('Connection terminated unexpectedly')),
    ],
    ['Postgres: connection failure (08006)', withCode('connection failure', '08006')],
    [
      'Postgres: backend terminated (57P01)',
      withCode('terminating connection due to administrator command', '57P01'),
    ],
    [
      'neon-http: the socket closed mid-request',
      neonFetchFailed(withCode('other side closed', 'UND_ERR_SOCKET')),
    ],
    ['Workers fetch', new Error('Network connection lost.')],
  ])('%s: lost', (_, err) => {
    expect(connectionLost(err)).toBe(true);
  });

  it.each([
    ['a syntax error', withCode('syntax error at or near "selec"', '42601')],
    ['a missing grant', withCode('permission denied for table items', '42501')],
    ['a statement timeout (57014)', withCode('canceling statement due to statement timeout', '57014')],
    ['Strata deadline', new StrataError('TIMEOUT', 'L3 findMany timed out after 500 ms')],
    ['pg connect timeout', new Error('Connection terminated due to connection timeout')],
    ['pool connect timeout', new Error('timeout exceeded when trying to connect')],
    ['refused: no connection was made', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ['neon-http, refused', neonFetchFailed(withCode('connect ECONNREFUSED', 'ECONNREFUSED'))],
    ['an HTTP 5xx (an answer)', new Error('Server error (HTTP status 503): injected 503')],
    ['anything else', new Error('boom')],
    ['not an error', 'ECONNRESET'],
  ])('%s: not lost', (_, err) => {
    expect(connectionLost(err)).toBe(false);
  });
});
