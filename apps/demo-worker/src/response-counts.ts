/** This isolate's error responses, apart: 4xx are the client's to fix, 5xx the server's failures. */
interface ResponseCounts {
  /** 400, 404, 409…: refused input, a missing player, a taken id. Not errors of the service. */
  clientErrors: number;
  /** 500, 503, 504: what an operator has to look at. */
  serverErrors: number;
}

// Module scope: it lives as long as the isolate, as the Strata whose stats() it is shown with.
const counts: ResponseCounts = { clientErrors: 0, serverErrors: 0 };

/** Counts one response by its status. */
export function countResponse(status: number): void {
  if (status >= 500) counts.serverErrors += 1;
  else if (status >= 400) counts.clientErrors += 1;
}

/** A copy of the counts so far. */
export function responseCounts(): ResponseCounts {
  return { ...counts };
}
