#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { devVars } from './dev-vars.js';
import { type EmbeddedMode, startDevstack } from './start.js';

const usage = `strata-devstack: Upstash REST + Neon HTTP/WebSocket endpoints over local Redis and Postgres

  --embedded auto|never|always   fall back to PGlite / a spawned redis-server (default: auto)
  --token T                      Upstash bearer token (default: random)
  --upstash-port N --neon-port N fixed ports (default: free ports)
  --pglite-dir DIR               keep the PGlite fallback's data in DIR
  --json                         print one JSON line instead of the .dev.vars block
Prints the bindings a Worker needs as a .dev.vars block (\`strata-devstack > .dev.vars\`),
then runs until SIGINT/SIGTERM. Reads STRATA_REDIS_URL and STRATA_DATABASE_URL.`;

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
console.log(values.json ? JSON.stringify(info) : devVars(info).trimEnd());
// On stderr, so that `> .dev.vars` captures only the block; a script can wait for this line.
console.error('devstack: ready (Ctrl-C stops it)');

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
