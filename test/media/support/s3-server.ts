// A small in-process S3-compatible server for the S3BlobStore tests (there is no network here):
// path-style PUT (known Content-Length, no aws-chunked bodies), GET with a single Range, HEAD and
// DELETE of objects, S3-style XML errors. It checks that requests are SigV4-signed with the
// expected access key id, but does not verify the signature itself.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface S3Request { method: string; path: string; headers: IncomingMessage['headers'] }

export interface TestS3 {
  url: string;
  objects: Map<string, { body: Buffer; modified: Date }>;
  requests: S3Request[];
  close(): Promise<void>;
}

export async function startTestS3(bucket: string, accessKeyId: string): Promise<TestS3> {
  const objects = new Map<string, { body: Buffer; modified: Date }>();
  const requests: S3Request[] = [];
  const server: Server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) xmlError(res, 500, 'InternalError', String(err));
      else res.destroy();
    });
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://s3.test');
    const path = decodeURIComponent(url.pathname);
    requests.push({ method: req.method ?? '', path, headers: req.headers });
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith(`AWS4-HMAC-SHA256 Credential=${accessKeyId}/`)) return xmlError(res, 403, 'AccessDenied', 'unsigned or wrong key');
    const prefix = `/${bucket}/`;
    if (!path.startsWith(prefix)) return xmlError(res, 404, 'NoSuchBucket', 'no such bucket');
    const key = path.slice(prefix.length);
    switch (req.method) {
      case 'PUT': {
        if (String(req.headers['content-encoding'] ?? '').includes('aws-chunked')) return xmlError(res, 501, 'NotImplemented', 'aws-chunked');
        const length = Number(req.headers['content-length']);
        if (!Number.isSafeInteger(length)) return xmlError(res, 411, 'MissingContentLength', 'length required');
        const chunks: Buffer[] = [];
        for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
        const body = Buffer.concat(chunks);
        if (body.length !== length) return xmlError(res, 400, 'IncompleteBody', 'length mismatch');
        objects.set(key, { body, modified: new Date() });
        res.writeHead(200, { etag: '"x"' }).end();
        return;
      }
      case 'GET':
      case 'HEAD': {
        const o = objects.get(key);
        if (o === undefined) return req.method === 'HEAD' ? void res.writeHead(404).end() : xmlError(res, 404, 'NoSuchKey', 'no such key');
        const headers = { 'last-modified': o.modified.toUTCString(), 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' };
        const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
        if (req.method === 'GET' && m) {
          const start = Number(m[1]);
          const end = Math.min(Number(m[2]), o.body.length - 1);
          if (start >= o.body.length || end < start) return xmlError(res, 416, 'InvalidRange', 'bad range');
          res.writeHead(206, { ...headers, 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${o.body.length}` }).end(o.body.subarray(start, end + 1));
          return;
        }
        res.writeHead(200, { ...headers, 'content-length': o.body.length });
        res.end(req.method === 'HEAD' ? undefined : o.body);
        return;
      }
      case 'DELETE':
        objects.delete(key);
        res.writeHead(204).end();
        return;
      default:
        return xmlError(res, 405, 'MethodNotAllowed', 'method');
    }
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    objects,
    requests,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

function xmlError(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`);
}
