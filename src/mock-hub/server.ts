// The mock hub's single node:http server: WebSocket upgrades at /hip/v1/session (subprotocol
// `hip.1`, else HTTP 400; HTTP 503 + Retry-After while the refuse_sessions fault is on; 404 for
// other paths) handed to `ws` in noServer mode, everything else to the Hono app (control API,
// /healthz, /media). ws's maxPayload enforces max_frame_bytes (close 1009, spec 2).
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { getRequestListener } from '@hono/node-server';
import { WebSocketServer } from 'ws';
import { controlApp } from './control.ts';
import type { HubCore } from './hub.ts';
import { Session } from './session.ts';

export const SESSION_PATH = '/hip/v1/session';
export const SUBPROTOCOL = 'hip.1';

export interface Listening {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export async function listen(core: HubCore, host: string, port: number): Promise<Listening> {
  const app = controlApp(core);
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: core.config.limits.max_frame_bytes,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });
  const server = createServer(getRequestListener(app.fetch));
  const sockets = new Set<Duplex>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== SESSION_PATH) return refuse(socket, 404, 'Not Found');
    if (core.faults.refusingSessions()) return refuse(socket, 503, 'Service Unavailable', { 'Retry-After': String(core.faults.refuseRetryAfterS()) });
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(SUBPROTOCOL)) return refuse(socket, 400, 'Bad Request');
    wss.handleUpgrade(req, socket, head, (ws) => {
      new Session(ws, { ...core.hooks, limits: core.config.limits, timers: core.timers, log: core.log });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const actual = typeof address === 'object' && address !== null ? address.port : port;
  return {
    server,
    port: actual,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

function refuse(socket: Duplex, status: number, text: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ error: text });
  const lines = [
    `HTTP/1.1 ${status} ${text}`,
    'Connection: close',
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}
