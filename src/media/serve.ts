// Serves encrypted blobs at GET/HEAD /media/{token}: the `<media url>` of spec 11.1 that the hub's
// media proxy fetches. Unknown, forged and expired tokens and deleted blobs all get the same 404.
// Single `Range: bytes=a-b` ranges (206 + Content-Range; 416 for unsatisfiable ones; If-Range with
// the ETag), streamed from the store. Blobs are ciphertext, but the URL is a capability: answers
// are `Cache-Control: private` and `no-transform`, never shared caches.
import { Readable } from 'node:stream';
import { Hono } from 'hono';
import { BlobNotFoundError, type BlobStore } from './blob-store.ts';
import { parseRange } from './range.ts';
import { UrlSigner } from './url-token.ts';

export interface MediaRoutesOptions {
  store: BlobStore;
  signer: UrlSigner;
  /** UNIX seconds; injectable for tests. */
  nowS?: () => number;
}

export function mediaRoutes(o: MediaRoutesOptions): Hono {
  const nowS = o.nowS ?? (() => Math.floor(Date.now() / 1000));
  const app = new Hono();
  // Hono answers HEAD by running the GET handler and dropping the body: the handler checks the
  // method so that a HEAD never opens a blob stream it would leave unread.
  app.get('/media/:token', async (c) => {
    const token = c.req.param('token');
    const now = nowS();
    const key = o.signer.verify(token, now);
    const info = key === undefined ? undefined : await o.store.stat(key);
    if (key === undefined || info === undefined) return notFound();
    const size = info.size;
    const etag = `"${key}"`;
    const headers = new Headers({
      'content-type': 'application/octet-stream',
      'accept-ranges': 'bytes',
      'cache-control': `private, no-transform, max-age=${Math.max(0, (UrlSigner.expiry(token) ?? now) - now)}`,
      'x-content-type-options': 'nosniff',
      etag,
    });
    const ifRange = c.req.header('if-range');
    const range = ifRange !== undefined && ifRange !== etag ? { kind: 'full' as const } : parseRange(c.req.header('range'), size);
    if (range.kind === 'unsatisfiable') {
      headers.set('content-range', `bytes */${size}`);
      return new Response(null, { status: 416, headers });
    }
    const part = range.kind === 'partial' ? { start: range.start, end: range.end } : undefined;
    const status = part === undefined ? 200 : 206;
    headers.set('content-length', String(part === undefined ? size : part.end - part.start + 1));
    if (part !== undefined) headers.set('content-range', `bytes ${part.start}-${part.end}/${size}`);
    if (c.req.method === 'HEAD' || size === 0) return new Response(null, { status, headers });
    try {
      const { stream } = await o.store.get(key, part);
      return new Response(Readable.toWeb(stream) as ReadableStream<Uint8Array>, { status, headers });
    } catch (err) {
      if (err instanceof BlobNotFoundError) return notFound();
      throw err;
    }
  });
  return app;
}

function notFound(): Response {
  return new Response('not found\n', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' } });
}
