import type { IncomingMessage } from 'node:http';
import { createConnection, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';

interface WsProxy {
  /** Takes over an HTTP upgrade request and bridges it to the backing Postgres. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes every bridged connection; resolves once their TCP sides are closed. */
  close(): Promise<void>;
}

// Pause reading Postgres when this much is queued towards a slow WebSocket client.
const HIGH_WATER_BYTES = 1024 * 1024;

/**
 * The Neon WebSocket proxy: each WebSocket carries the Postgres wire protocol, piped byte for byte
 * to a TCP connection. It dials `backing` whatever `?address=` the client asks for, so it can never
 * be used to reach another host.
 * @example
 * const proxy = createWsProxy({ host: '127.0.0.1', port: 5432 });
 * server.on('upgrade', (req, socket, head) => proxy.handleUpgrade(req, socket, head));
 */
export function createWsProxy(backing: { host: string; port: number }): WsProxy {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const bridges = new Map<WebSocket, { tcp: Socket; closed: Promise<void> }>();

  const bridge = (ws: WebSocket) => {
    const tcp = createConnection({ host: backing.host, port: backing.port });
    tcp.setNoDelay(true);
    const closed = new Promise<void>((resolve) => tcp.once('close', () => resolve()));
    bridges.set(ws, { tcp, closed });

    // Writes before `connect` are queued by net.Socket, so the startup message may arrive early.
    ws.on('message', (data: RawData) => {
      if (!tcp.write(toBuffer(data))) ws.pause();
    });
    tcp.on('drain', () => ws.resume());
    tcp.on('data', (chunk: Buffer) => {
      ws.send(chunk, { binary: true }, () => {
        if (tcp.isPaused() && ws.bufferedAmount < HIGH_WATER_BYTES) tcp.resume();
      });
      if (ws.bufferedAmount >= HIGH_WATER_BYTES) tcp.pause();
    });

    // Either side closing closes the other; errors only ever lead to closing, never to a throw.
    ws.on('close', () => {
      bridges.delete(ws);
      tcp.destroy();
    });
    ws.on('error', () => tcp.destroy());
    tcp.on('error', () => {});
    tcp.on('close', (hadError) => {
      if (ws.readyState === ws.OPEN) ws.close(hadError ? 1011 : 1000, hadError ? 'backend error' : '');
      else ws.terminate();
    });
  };

  return {
    handleUpgrade(req, socket, head) {
      socket.on('error', () => {});
      wss.handleUpgrade(req, socket, head, bridge);
    },
    async close() {
      const pending = [...bridges.entries()];
      for (const [ws, { tcp }] of pending) {
        ws.terminate();
        tcp.destroy();
      }
      await Promise.all(pending.map(([, { closed }]) => closed));
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
