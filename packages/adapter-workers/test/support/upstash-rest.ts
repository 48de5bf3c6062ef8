/**
 * The few Upstash REST calls the Worker tests make by hand (plain `fetch`, no client), so a fixture
 * Worker can record what it saw in the devstack's real Redis and a test can read it back.
 */
export interface UpstashRest {
  url: string;
  token: string;
}

type Command = readonly (string | number)[];
type Reply = { result?: unknown; error?: string };

/** One command, e.g. `['RPUSH', key, value]`; returns its `result` or throws with Redis' error. */
export async function upstashCommand(rest: UpstashRest, command: Command): Promise<unknown> {
  const body = (await post(rest, rest.url, command)) as Reply;
  if (body.error !== undefined) throw new Error(`Upstash ${command[0]}: ${body.error}`);
  return body.result;
}

/** Several commands in one request (`/pipeline`); throws on the first error in the replies. */
export async function upstashPipeline(rest: UpstashRest, commands: readonly Command[]): Promise<unknown[]> {
  const replies = (await post(rest, `${rest.url}/pipeline`, commands)) as Reply[];
  return replies.map((reply, i) => {
    if (reply.error !== undefined) throw new Error(`Upstash ${commands[i]?.[0]}: ${reply.error}`);
    return reply.result;
  });
}

async function post(rest: UpstashRest, url: string, body: unknown): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${rest.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok && !text.startsWith('{')) throw new Error(`Upstash ${res.status}: ${text}`);
  return JSON.parse(text);
}
