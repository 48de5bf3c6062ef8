import { Redis } from 'ioredis';

/**
 * A real ioredis connection to `url` whose commands are recorded by name (`sent`) once it is
 * connected: a test counts what a Strata sends on it (the queue's, the bus's connection).
 */
export async function recordedRedis(url: string, options: { protocol?: 2 | 3 } = {}) {
  const connection = new Redis(url, options);
  await connection.ping();
  const sent: string[] = [];
  const send = connection.sendCommand.bind(connection);
  connection.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
    sent.push(command.name);
    return (send as (...a: unknown[]) => unknown)(command, ...rest);
  }) as Redis['sendCommand'];
  return { connection, sent };
}
