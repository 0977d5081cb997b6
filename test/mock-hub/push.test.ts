import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pusher } from '../../src/mock-hub/push.ts';
import { Timers } from '../../src/mock-hub/timers.ts';
import { verifyPushSignature } from '../../src/protocol/index.ts';
import { silent } from './helpers.ts';

const SECRET = 'push-secret-for-tests';

interface Got { body: string; signature: string; ok: boolean }

describe('pushes (spec 9)', () => {
  const got: Got[] = [];
  let answers: number[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const signature = String(req.headers['x-hub-signature'] ?? '');
      got.push({ body, signature, ok: verifyPushSignature(SECRET, signature, body, Math.floor(Date.now() / 1000)) });
      res.statusCode = answers.shift() ?? 202;
      res.end();
    });
  });
  let url = '';
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/push`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  const until = async (cond: () => boolean, ms = 3000): Promise<void> => {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it('posts a signed {user, pending} and retries with backoff after a failure', async () => {
    got.length = 0;
    answers = [500, 503];
    const timers = new Timers();
    const sent: string[] = [];
    const p = new Pusher({ timers, retryForMs: 10_000, logger: silent, baseBackoffMs: 20, onSent: (u) => sent.push(u) });
    let pending = 2;
    p.push('alice@birdy.interop', { url, secret: SECRET }, () => pending);
    p.push('alice@birdy.interop', { url, secret: SECRET }, () => pending); // one loop per user
    pending = 3;
    await until(() => sent.length === 1);
    expect(got).toHaveLength(3);
    expect(got.every((g) => g.ok)).toBe(true);
    expect(JSON.parse(got[2]!.body)).toEqual({ user: 'alice@birdy.interop', pending: 3 });
    expect(p.records.map((r) => r.status)).toEqual([500, 503, 202]);
    expect(p.isActive('alice@birdy.interop')).toBe(false);
    timers.close();
  });

  it('gives up after push_retry_for_s and records network errors', async () => {
    const timers = new Timers();
    const p = new Pusher({ timers, retryForMs: 100, logger: silent, baseBackoffMs: 30 });
    p.push('carol@birdy.interop', { url: 'http://127.0.0.1:1/push', secret: SECRET }, () => 1);
    await until(() => !p.isActive('carol@birdy.interop'));
    expect(p.records.length).toBeGreaterThanOrEqual(2);
    expect(p.records.length).toBeLessThanOrEqual(3);
    expect(typeof p.records[0]!.status).toBe('string');
    timers.close();
  });

  it('stops when the user has a session again (probe says undefined)', async () => {
    got.length = 0;
    answers = [500];
    const timers = new Timers();
    const p = new Pusher({ timers, retryForMs: 10_000, logger: silent, baseBackoffMs: 50 });
    let probe: number | undefined = 1;
    p.push('dave@birdy.interop', { url, secret: SECRET }, () => probe);
    await until(() => got.length === 1);
    probe = undefined;
    await until(() => !p.isActive('dave@birdy.interop'));
    expect(got).toHaveLength(1);
    timers.close();
  });
});
