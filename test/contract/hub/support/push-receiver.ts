// A provider's push endpoint for the conformance suite (spec 9): a node:http server on a free port
// that records every POST (headers and raw body) and answers with a status the test chooses.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedPush {
  path: string;
  contentType: string | undefined;
  signature: string | undefined;
  body: string;
  /** When it arrived (ms). */
  at: number;
}

export interface PushReceiver {
  url: string;
  received: ReceivedPush[];
  /** Status answered to the next pushes (202 by default). */
  setStatus(status: number): void;
  /** Milliseconds to wait before answering (0 by default). */
  setDelay(ms: number): void;
  /** Resolves with the first push (from index `from` on) matching `pred`. */
  waitFor(pred: (p: ReceivedPush) => boolean, timeoutMs?: number, from?: number): Promise<ReceivedPush>;
  close(): Promise<void>;
}

export async function startPushReceiver(host = '127.0.0.1'): Promise<PushReceiver> {
  const received: ReceivedPush[] = [];
  const waiters = new Set<() => void>();
  let status = 202;
  let delay = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST') {
        const sig = req.headers['x-hub-signature'];
        received.push({
          path: req.url ?? '/',
          contentType: req.headers['content-type'],
          signature: Array.isArray(sig) ? sig[0] : sig,
          body: Buffer.concat(chunks).toString('utf8'),
          at: Date.now(),
        });
        for (const w of waiters) w();
      }
      const answer = (): void => {
        res.writeHead(req.method === 'POST' ? status : 405, { 'content-type': 'application/json' });
        res.end('{}');
      };
      if (delay > 0) setTimeout(answer, delay);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}/push`,
    received,
    setStatus(s) {
      status = s;
    },
    setDelay(ms) {
      delay = ms;
    },
    waitFor(pred, timeoutMs = 5000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const hit = received.slice(from).find(pred);
          if (hit === undefined) return false;
          waiters.delete(onPush);
          clearTimeout(timer);
          resolve(hit);
          return true;
        };
        const onPush = (): void => {
          check();
        };
        const timer = setTimeout(() => {
          waiters.delete(onPush);
          reject(new Error(`no matching push within ${timeoutMs} ms; got ${JSON.stringify(received.slice(from))}`));
        }, timeoutMs);
        waiters.add(onPush);
        check();
      });
    },
    close() {
      return new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
