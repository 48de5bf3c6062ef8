import { Redis } from 'ioredis';
import { RedisClusterError } from './error.js';

/** What one node says about the cluster: its state, its own role, and the slot map it holds. */
export interface NodeView {
  port: number;
  state: string;
  role: 'master' | 'replica';
  /** Replicas: whether replication from the master is up (its data is there for a failover). */
  linkUp: boolean;
  /** The masters and their slot ranges as this node sees them, in one comparable string. */
  slotMap: string;
  knownNodes: number;
}

/** Asks one node for CLUSTER INFO, CLUSTER NODES and its replication link. */
export async function viewOf(client: Redis, port: number): Promise<NodeView> {
  const info = (await client.call('CLUSTER', 'INFO')) as string;
  const nodes = (await client.call('CLUSTER', 'NODES')) as string;
  const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? '';
  const lines = nodes
    .trim()
    .split('\n')
    .map((line) => line.split(' '));
  // `<id> <ip:port@bus> <flags> <master id> <ping> <pong> <epoch> <link> <slot> <slot>…`
  const masters = lines
    .filter((parts) => parts[2]?.split(',').includes('master'))
    .map((parts) => `${parts[1]?.split('@')[0]}=${parts.slice(8).join(',')}`)
    .sort();
  const self = lines.find((parts) => parts[2]?.split(',').includes('myself'));
  const role = self?.[2]?.split(',').includes('master') ? 'master' : 'replica';
  const replication = role === 'replica' ? ((await client.info('replication')) as string) : '';
  return {
    port,
    state: field('cluster_state'),
    role,
    linkUp: role === 'master' || /^master_link_status:up/m.test(replication),
    slotMap: masters.join(' '),
    knownNodes: Number(field('cluster_known_nodes')),
  };
}

/** Healthy: every node says `ok`, knows all the others, holds the same slot map; replicas synced. */
function agreed(views: NodeView[], expected: { nodes: number; masters: number }): boolean {
  const first = views[0];
  if (first === undefined) return false;
  return (
    views.every((v) => v.state === 'ok' && v.knownNodes === expected.nodes && v.linkUp) &&
    views.every((v) => v.slotMap === first.slotMap) &&
    views.filter((v) => v.role === 'master').length === expected.masters
  );
}

/**
 * Polls every node until they agree on a healthy cluster (see `agreed`), or throws NOT_READY with
 * what each said last once `deadline` (a `Date.now()` value) has passed. There is no event to await
 * for gossip converging, hence the poll; the deadline bounds it.
 */
export async function waitForAgreement(
  ports: readonly number[],
  masters: number,
  deadline: number,
): Promise<NodeView[]> {
  const clients = ports.map(
    (port) => new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, protocol: 2 }),
  );
  for (const client of clients) client.on('error', () => {});
  let last: NodeView[] | string = 'no answer yet';
  try {
    while (Date.now() < deadline) {
      try {
        last = await Promise.all(clients.map((client, i) => viewOf(client, ports[i]!)));
        if (agreed(last, { nodes: ports.length, masters })) return last;
      } catch (err) {
        last = String(err);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new RedisClusterError(
      'NOT_READY',
      `the nodes did not agree in time; last: ${JSON.stringify(last)}`,
    );
  } finally {
    for (const client of clients) client.disconnect();
  }
}
