// The POST itself (sender.ts) against a local node:http server: kept-alive connections reused
// and bounded, redirects not followed, timeouts, a refused connection, and a kept-alive socket
// that the provider closed being retried once on a fresh connection.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Sender } from '../../../adapters/webhook/sender.ts';
import { verifyWebhookSignature } from '../../../adapters/webhook/signature.ts';
import { freePort } from './support.ts';

const SECRET = 'sender-test-secret';
const open: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

/** A server that records requests and the connections they came on. */
async function server(handle: (req: IncomingMessage, res: ServerResponse, n: number) => void): Promise<{ url: string; sockets: Set<Socket>; bodies: string[]; headers: IncomingMessage['headers'][] }> {
  const sockets = new Set<Socket>();
  const bodies: string[] = [];
  const headers: IncomingMessage['headers'][] = [];
  const s: Server = createServer((req, res) => {
    sockets.add(req.socket);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = bodies.push(Buffer.concat(chunks).toString('utf8')) - 1;
      headers.push(req.headers);
      handle(req, res, n);
    });
  });
  s.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  open.push(() => {
    s.closeAllConnections();
    return new Promise<void>((r) => s.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(s.address() as { port: number }).port}/hooks`, sockets, bodies, headers };
}

function sender(url: string, maxSockets = 4, timeoutMs = 2000): Sender {
  const x = new Sender({ url, secret: () => SECRET, timeoutMs }, maxSockets);
  open.push(() => x.close());
  return x;
}

const req = (i: number) => ({ eventId: `evt_${i}`, type: 'notice', body: `{"event_id":"evt_${i}","n":"é ${i}"}`, attempt: 1 });

describe('Sender', () => {
  it('POSTs the exact body, signed, and reuses one kept-alive connection for events in sequence', async () => {
    const srv = await server((_q, res) => res.writeHead(204).end());
    const s = sender(srv.url);
    for (let i = 0; i < 5; i++) expect(await s.post(req(i))).toEqual({ ok: true, status: 204 });
    expect(srv.bodies).toEqual([0, 1, 2, 3, 4].map((i) => req(i).body));
    expect(srv.headers.map((h) => h['x-causeway-event-id'])).toEqual(['evt_0', 'evt_1', 'evt_2', 'evt_3', 'evt_4']);
    for (const [i, h] of srv.headers.entries()) expect(verifyWebhookSignature(SECRET, h['x-causeway-signature'] as string, req(i).body)).toBe(true);
    expect(srv.sockets.size).toBe(1);
  });

  it('opens at most maxSockets connections however many POSTs are in flight', async () => {
    const srv = await server((_q, res) => setTimeout(() => res.writeHead(200).end(), 30));
    const s = sender(srv.url, 2);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => s.post(req(i))));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(srv.sockets.size).toBe(2);
  });

  it('does not follow a redirect, and reports other statuses as failures', async () => {
    const srv = await server((_q, res, n) => (n === 0 ? res.writeHead(302, { location: 'http://127.0.0.1:9/elsewhere' }).end() : res.writeHead(503).end('busy')));
    const s = sender(srv.url);
    expect(await s.post(req(0))).toEqual({ ok: false, status: 302, error: 'HTTP 302' });
    expect(await s.post(req(1))).toEqual({ ok: false, status: 503, error: 'HTTP 503' });
    expect(srv.bodies).toHaveLength(2);
  });

  it('gives up after timeout_ms, and reports a refused connection as a network error', async () => {
    const srv = await server(() => undefined); // never answers
    const t0 = Date.now();
    expect(await sender(srv.url, 2, 150).post(req(0))).toEqual({ ok: false, error: 'timeout after 150 ms' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(await sender(`http://127.0.0.1:${await freePort()}/x`).post(req(1))).toEqual({ ok: false, error: 'network error (ECONNREFUSED)' });
  });

  it('retries once on a fresh connection when a kept-alive socket was closed under it', async () => {
    // The second request on the first connection is cut off, as when the provider closes an idle
    // connection just as it is reused.
    let first: Socket | undefined;
    const srv = await server((q, res, n) => {
      first ??= q.socket;
      if (n === 1 && q.socket === first) q.socket.destroy();
      else res.writeHead(200).end();
    });
    const s = sender(srv.url);
    expect(await s.post(req(0))).toEqual({ ok: true, status: 200 });
    expect(await s.post(req(1))).toEqual({ ok: true, status: 200 });
    expect(srv.bodies).toEqual([req(0).body, req(1).body, req(1).body]);
    expect(srv.sockets.size).toBe(2);
  });
});
