// fetchStream against a scriptable loopback server: caps (Content-Length and bytes received),
// deadline, redirects, schemes and the private-address guard.
import { hostname } from 'node:os';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPrivateAddress, publicOnlyLookup } from '../../src/media/address-guard.ts';
import { MediaError } from '../../src/media/errors.ts';
import { fetchStream, type FetchOptions } from '../../src/media/fetch.ts';
import { serveRaw, type Running } from './support/http.ts';

let server: Running;
beforeAll(async () => {
  server = await serveRaw((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    switch (url.pathname) {
      case '/file/report%20v2.pdf':
        res.writeHead(200, { 'content-type': 'application/pdf', 'content-length': 11 }).end('hello world');
        return;
      case '/disposition':
        res.writeHead(200, { 'content-disposition': `attachment; filename="fallback.txt"; filename*=UTF-8''Zo%C3%AB%20notes.txt` }).end('x');
        return;
      case '/chunked': {
        // No Content-Length: only counting the bytes can enforce the cap.
        res.writeHead(200);
        const n = Number(url.searchParams.get('n'));
        for (let i = 0; i < n; i += 1000) res.write(Buffer.alloc(Math.min(1000, n - i), 1));
        res.end();
        return;
      }
      case '/declares-big':
        res.writeHead(200, { 'content-length': 50_000_000 });
        res.write(Buffer.alloc(1000));
        return; // never finishes
      case '/stall-headers':
        return; // never answers
      case '/stall-body':
        res.writeHead(200, { 'content-length': 1000 });
        res.write(Buffer.alloc(10));
        return;
      case '/cut':
        res.writeHead(200, { 'content-length': 1000 });
        res.write(Buffer.alloc(10), () => res.socket?.destroy());
        return;
      case '/redirect':
        res.writeHead(302, { location: `/file/report%20v2.pdf` }).end();
        return;
      case '/loop':
        res.writeHead(301, { location: '/loop' }).end();
        return;
      case '/to-file':
        res.writeHead(302, { location: 'file:///etc/passwd' }).end();
        return;
      case '/503':
        res.writeHead(503).end('busy');
        return;
      default:
        res.writeHead(404).end();
    }
  });
});
afterAll(() => server.close());

const opts: FetchOptions = { maxBytes: 10_000, timeoutMs: 2000, allowPrivateAddresses: true };

async function failure(url: string, o: Partial<FetchOptions> = {}): Promise<MediaError> {
  const err = await fetchStream(url, { ...opts, ...o }).then((r) => buffer(r.stream)).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(MediaError);
  return err as MediaError;
}

describe('fetchStream', () => {
  it('streams the body with its length, type and a file name from the URL or Content-Disposition', async () => {
    const r = await fetchStream(`${server.url}/file/report%20v2.pdf`, opts);
    expect(r).toMatchObject({ contentLength: 11, contentType: 'application/pdf', filename: 'report v2.pdf' });
    expect((await buffer(r.stream)).toString()).toBe('hello world');
    expect((await fetchStream(`${server.url}/disposition`, opts)).filename).toBe('Zoë notes.txt');
  });

  it('enforces the cap on the bytes received when there is no Content-Length', async () => {
    expect((await buffer((await fetchStream(`${server.url}/chunked?n=10000`, opts)).stream)).length).toBe(10_000);
    const err = await failure(`${server.url}/chunked?n=10001`);
    expect(err.code).toBe('too-large');
  });

  it('refuses a Content-Length over the cap before reading the body', async () => {
    const r = await fetchStream(`${server.url}/declares-big`, opts).catch((e: unknown) => e);
    expect((r as MediaError).code).toBe('too-large');
    expect((r as MediaError).message).toContain('50000000');
  });

  it('gives up at the deadline, before the headers or in the middle of the body', async () => {
    const t0 = Date.now();
    expect((await failure(`${server.url}/stall-headers`, { timeoutMs: 300 })).code).toBe('timeout');
    expect((await failure(`${server.url}/stall-body`, { timeoutMs: 300 })).code).toBe('timeout');
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('follows redirects within http(s), refuses other schemes, loops and bad inputs', async () => {
    expect((await buffer((await fetchStream(`${server.url}/redirect`, opts)).stream)).toString()).toBe('hello world');
    expect(await failure(`${server.url}/loop`)).toMatchObject({ code: 'fetch-failed', message: expect.stringContaining('too many redirects') });
    expect(await failure(`${server.url}/to-file`)).toMatchObject({ code: 'fetch-failed', message: expect.stringContaining('redirect refused') });
    expect((await failure('file:///etc/passwd')).code).toBe('fetch-failed');
    expect((await failure('not a url')).code).toBe('fetch-failed');
    expect((await failure(`http://user:pw@127.0.0.1:1/`)).code).toBe('fetch-failed');
  });

  it('reports HTTP errors as fetch-failed, retryable only for server-side ones', async () => {
    expect(await failure(`${server.url}/missing`)).toMatchObject({ code: 'fetch-failed', retryable: false });
    expect(await failure(`${server.url}/503`)).toMatchObject({ code: 'fetch-failed', retryable: true });
    expect(await failure('http://127.0.0.1:1/x')).toMatchObject({ code: 'fetch-failed', retryable: true });
  });

  it('reports a connection cut in the middle of the body as a retryable fetch-failed', async () => {
    expect(await failure(`${server.url}/cut`)).toMatchObject({ code: 'fetch-failed', retryable: true, message: expect.stringContaining('broke off') });
  });

  it('refuses private and loopback addresses unless allowed, also behind a host name', async () => {
    const port = new URL(server.url).port;
    for (const url of [`http://127.0.0.1:${port}/file/a`, `http://[::1]:${port}/x`, `http://localhost:${port}/x`, `http://169.254.169.254/latest/meta-data/`, `http://10.1.2.3/x`]) {
      expect(await failure(url, { allowPrivateAddresses: false })).toMatchObject({ code: 'fetch-failed', message: expect.stringContaining('private or local address') });
    }
    // A name that resolves to a private address (this machine's name: loopback or a container
    // address) is caught by the lookup hook, not only literal addresses.
    expect(await failure(`http://${hostname()}:${port}/file/a`, { allowPrivateAddresses: false })).toMatchObject({ code: 'fetch-failed', message: expect.stringContaining('private or local') });
  });

  it('the lookup hook refuses private resolutions in both callback forms', async () => {
    const ask = (all: boolean) => new Promise<unknown>((resolve) => publicOnlyLookup('localhost', { all }, (err) => resolve(err)));
    expect(await ask(false)).toMatchObject({ code: 'fetch-failed' });
    expect(await ask(true)).toMatchObject({ code: 'fetch-failed' });
  });
});

describe('isPrivateAddress', () => {
  it('knows the private, loopback, link-local, CGNAT and mapped ranges', () => {
    for (const a of ['127.0.0.1', '10.0.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '::1', '::', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', 'garbage']) {
      expect([a, isPrivateAddress(a)]).toEqual([a, true]);
    }
    for (const a of ['8.8.8.8', '172.32.0.1', '1.1.1.1', '2606:4700::1111', '::ffff:8.8.8.8']) {
      expect([a, isPrivateAddress(a)]).toEqual([a, false]);
    }
  });
});
