/** Redis' refusals of a command before it runs (a script's write checks come before its first write). */
const REFUSED =
  /^(NOSCRIPT|OOM|READONLY|BUSY|LOADING|NOAUTH|WRONGPASS|MASTERDOWN|MISCONF|CLUSTERDOWN|MOVED|ASK|TRYAGAIN|CROSSSLOT|NOREPLICAS) /;
/** Connection failures before a byte of the request left: refused, no such host, no connection in time. */
const UNCONNECTED = /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|UND_ERR_CONNECT_TIMEOUT)$/;

/**
 * Whether an L2 call's failure says its command never ran: a tier's refusal to send it
 * (`details.sent === false`, see `checkSendBy`), the breaker failing fast, a connection that never
 * opened, or Redis' refusal before running it (a reply error named in `REFUSED`), in the error or
 * its causes. Anything else (a timeout, a connection cut or reset after the request was written, a
 * lost HTTP reply, a proxy's 5xx, a script's own runtime error) may have come after Redis ran it:
 * false, the conservative answer. A client that sends a command again after a failed attempt
 * (@upstash/redis with retries, which Strata warns about) reports its last attempt's failure only.
 */
export function notRun(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 6; e = e.cause, depth++) {
    const { details, code } = e as { details?: { sent?: unknown; reason?: unknown }; code?: unknown };
    if (details?.sent === false || details?.reason === 'breaker-open') return true;
    if (typeof code === 'string' && UNCONNECTED.test(code)) return true;
    if ((e.name === 'ReplyError' || e.name === 'UpstashError') && REFUSED.test(e.message)) return true;
  }
  return false;
}
