// Server-ack matching on one session when the same message id is sent twice while the first ack is
// still awaited (a retry answer, spec 6.2, under the id of a message whose ack is pending, or a
// resend of a stored frame): each send waits for its own ack, and one send timing out must not
// take the other's waiter with it. A fake hub socket decides when to ack.
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { HubConnection, HubTimeoutError } from '../../src/hub/connection.ts';
import { buildStanza, parseStanza } from '../../src/protocol/index.ts';

const server = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'hip.1' });
let hubSide: WebSocket | undefined;
const received: string[] = [];
server.on('connection', (ws) => {
  hubSide = ws;
  ws.on('message', (data) => {
    const f = data.toString('utf8');
    // the session's frames are recorded as sent: only the open is read
    if (f.startsWith('<open ') && parseStanza(f).kind === 'open') ws.send(buildStanza({ kind: 'opened', session: 'fake-session-1', t: Math.floor(Date.now() / 1000) }));
    else received.push(f);
  });
});

let conn: HubConnection;
beforeAll(async () => {
  await new Promise<void>((r) => (server.address() ? r() : server.once('listening', () => r())));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  conn = await HubConnection.open({ hubUrl: url, user: 'alice@birdy.interop', token: 'x', onInbound: () => undefined });
});
afterAll(() => new Promise<void>((r) => {
  conn?.close();
  for (const s of server.clients) s.terminate();
  server.close(() => r());
}));

async function untilReceived(n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (received.length < n) {
    if (Date.now() > deadline) throw new Error(`the fake hub got ${received.length} of ${n} stanzas`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const frame = (id: string, n: number) => ({ id, frame: `<message id="${id}" to="447700900123@hub" type="text" t="${n}"/>` });
const ackFor = (id: string, t: number) => buildStanza({ kind: 'ack', class: 'message', id, t });

describe('two sends with the same id on one session', () => {
  it('both resolve, each on an ack of the hub', async () => {
    received.length = 0;
    const first = conn.sendMessage(frame('SAMEID0001', 1), 10_000);
    const second = conn.sendMessage(frame('SAMEID0001', 2), 10_000);
    await untilReceived(2);
    hubSide?.send(ackFor('SAMEID0001', 111));
    hubSide?.send(ackFor('SAMEID0001', 222));
    const [a, b] = await Promise.allSettled([first, second]);
    expect(a).toMatchObject({ status: 'fulfilled', value: { id: 'SAMEID0001', t: 111 } });
    expect(b).toMatchObject({ status: 'fulfilled', value: { id: 'SAMEID0001', t: 222 } });
  });

  it("the first one's timeout leaves the second one waiting for its ack", async () => {
    received.length = 0;
    const first = conn.sendMessage(frame('SAMEID0002', 1), 50);
    const second = conn.sendMessage(frame('SAMEID0002', 2), 10_000);
    await untilReceived(2);
    await expect(first).rejects.toBeInstanceOf(HubTimeoutError);
    hubSide?.send(ackFor('SAMEID0002', 333));
    await expect(second).resolves.toMatchObject({ id: 'SAMEID0002', t: 333 });
  });
});
