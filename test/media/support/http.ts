// HTTP helpers for the media tests: serve a Hono app (the media routes) on a loopback port, and a
// scriptable raw node:http server for the fetch tests.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { Hono } from 'hono';

export interface Running { url: string; close(): Promise<void> }

async function listen(server: Server): Promise<Running> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

export function serveApp(app: Hono): Promise<Running> {
  return listen(createServer(getRequestListener(app.fetch)));
}

export function serveRaw(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Running> {
  return listen(createServer(handler));
}
