// What the numbers were measured on: CPU, cores, memory, Node, and the versions of every library
// compared (read from the installed packages, not from package.json ranges).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

function versionOf(name) {
  // Walk up from the package's entry to its package.json (exports may hide ./package.json).
  try {
    let dir;
    try {
      dir = require.resolve(name);
    } catch {
      dir = fileURLToPath(import.meta.resolve(name));
    }
    for (let i = 0; i < 8; i++) {
      dir = dir.slice(0, dir.lastIndexOf('/'));
      try {
        const pkg = JSON.parse(readFileSync(`${dir}/package.json`, 'utf8'));
        if (pkg.name === name) return pkg.version;
      } catch {}
    }
  } catch {}
  return 'unknown';
}

function serverVersion(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 3_000 }).trim().split('\n')[0];
  } catch {
    return 'unknown';
  }
}

export function machineInfo() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    host: os.hostname(),
    postgres: serverVersion('psql', ['--version']),
    redis: serverVersion('redis-server', ['--version']),
    packages: Object.fromEntries(
      [
        '@strata/core',
        'bentocache',
        '@unkey/cache',
        'lru-cache',
        '@upstash/redis',
        'drizzle-orm',
        'pg',
        'ioredis',
        '@neondatabase/serverless',
        'autocannon',
        'wrangler',
      ].map((name) => [name, versionOf(name)]),
    ),
  };
}

/** A short, file-name-safe machine label: `amd-epyc-2c`. */
export function shortMachine(info) {
  const cpu = info.cpu
    .toLowerCase()
    .replace(/\(r\)|\(tm\)|cpu|processor|@.*$|\d+-core/g, '')
    .trim()
    .split(/\s+/)
    .slice(0, 3)
    .join('-')
    .replace(/[^a-z0-9-]/g, '');
  return `${cpu || 'cpu'}-${info.cores}c`;
}
