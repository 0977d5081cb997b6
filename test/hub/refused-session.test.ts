// HubConnection.open against a hub that refuses the session (spec 2: `<failure>`) but does not
// close the WebSocket itself: the refused socket must not be left open (one leaked per attempt,
// and attempts repeat with every reconnect).
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { HubConnection, HubSessionError } from '../../src/hub/connection.ts';

const server = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'hip.1' });
const sockets: WebSocket[] = [];
server.on('connection', (ws) => {
  sockets.push(ws);
  ws.on('message', () => ws.send('<failure reason="not-authorized"/>'));
});
afterAll(() => new Promise<void>((r) => {
  for (const s of server.clients) s.terminate();
  server.close(() => r());
}));

describe('a refused session', () => {
  it('is closed by the client', async () => {
    await new Promise<void>((r) => (server.address() ? r() : server.once('listening', () => r())));
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const err = await HubConnection.open({ hubUrl: url, user: 'alice@birdy.interop', token: 'x', onInbound: () => undefined }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(HubSessionError);
    expect((err as HubSessionError).reason).toBe('not-authorized');
    const ws = sockets[0] as WebSocket;
    const deadline = Date.now() + 5000;
    while (ws.readyState !== ws.CLOSED && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(ws.readyState).toBe(ws.CLOSED);
  });
});
