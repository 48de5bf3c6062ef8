/**
 * How long the devstack's HTTP servers keep an idle keep-alive socket. Node's default (5 s) races
 * fetch's pool: a client that reuses a socket just as the server times it out gets "fetch failed"
 * (a POST is not retried). The client closes idle sockets a second before the server's stated
 * timeout, and under heavy load timers run late by more than that; at 65 s the race needs a socket
 * idle for a minute, which a test or a bench does not leave.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;
