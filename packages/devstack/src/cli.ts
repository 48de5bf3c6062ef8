#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { type EmbeddedMode, redact, startDevstack } from './start.js';

const usage = `strata-devstack: Upstash REST + Neon HTTP/WebSocket endpoints over local Redis and Postgres

  --embedded auto|never|always   fall back to PGlite / a spawned redis-server (default: auto)
  --token T                      Upstash bearer token (default: random)
  --upstash-port N --neon-port N fixed ports (default: free ports)
  --pglite-dir DIR               keep the PGlite fallback's data in DIR
  --json                         print one JSON line instead of env lines
Runs until SIGINT/SIGTERM. Reads STRATA_REDIS_URL and STRATA_DATABASE_URL.`;

const { values } = parseArgs({
  options: {
    embedded: { type: 'string', default: 'auto' },
    token: { type: 'string' },
    'upstash-port': { type: 'string' },
    'neon-port': { type: 'string' },
    'pglite-dir': { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (!['auto', 'never', 'always'].includes(values.embedded)) {
  console.error(`--embedded must be auto, never or always, not ${values.embedded}`);
  process.exit(2);
}

const stack = await startDevstack({
  embedded: values.embedded as EmbeddedMode,
  ...(values.token && { upstashToken: values.token }),
  ...(values['upstash-port'] && { upstashPort: Number(values['upstash-port']) }),
  ...(values['neon-port'] && { neonPort: Number(values['neon-port']) }),
  ...(values['pglite-dir'] && { pgliteDataDir: values['pglite-dir'] }),
  log: (message) => console.error(`devstack: ${message}`),
});

const { stop, ...info } = stack;
if (values.json) {
  console.log(JSON.stringify(info));
} else {
  const lines = [
    `# Postgres: ${info.postgres.source} (${redact(info.postgres.url)}); Redis: ${info.redis.source}${info.redis.reason ? ` (${info.redis.reason})` : ''}`,
    ...(info.upstash
      ? [`UPSTASH_REDIS_REST_URL=${info.upstash.url}`, `UPSTASH_REDIS_REST_TOKEN=${info.upstash.token}`]
      : []),
    `NEON_HTTP_URL=${info.neon.httpUrl}`,
    `NEON_WS_HOST=${info.neon.wsHost}`,
    `DATABASE_URL=${info.neon.connectionString}`,
  ];
  console.log(lines.join('\n'));
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('devstack: stop failed', err);
        process.exit(1);
      },
    );
  });
}
