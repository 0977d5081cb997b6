// Request plumbing of the test homeserver: a tiny path router over node:http, Matrix-style JSON
// errors, and the caller's identity (an access token, or the appservice's as_token with `user_id`
// and MSC3202's `org.matrix.msc3202.device_id` masquerading).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Json } from './hs-state.ts';

export class MatrixError extends Error {
  readonly status: number;
  readonly errcode: string;
  constructor(status: number, errcode: string, message: string) {
    super(message);
    this.status = status;
    this.errcode = errcode;
  }
}

export interface Caller {
  userId: string;
  deviceId: string | undefined;
  /** The request used the appservice's token. */
  appservice: boolean;
}

export interface Ctx {
  method: string;
  path: string;
  params: string[];
  query: URLSearchParams;
  body: Json;
  raw: Buffer;
  headers: IncomingMessage['headers'];
  caller(): Caller;
}

export type Handler = (c: Ctx) => Promise<unknown> | unknown;

/** A binary answer (media downloads). */
export class Binary {
  readonly type: string;
  readonly data: Buffer;
  constructor(type: string, data: Buffer) {
    this.type = type;
    this.data = data;
  }
}

export class Router {
  readonly #routes: Array<{ method: string; re: RegExp; h: Handler }> = [];

  on(method: string, pattern: string, h: Handler): void {
    // `{x}` matches one path segment; a trailing `{*}` matches the rest (possibly empty).
    const re = new RegExp(`^${pattern.replace(/\{\*\}/g, '(.*)').replace(/\{[a-zA-Z]+\}/g, '([^/]+)')}$`);
    this.#routes.push({ method, re, h });
  }

  match(method: string, path: string): { h: Handler; params: string[] } | undefined {
    for (const r of this.#routes) {
      if (r.method !== method) continue;
      const m = r.re.exec(path);
      if (m) return { h: r.h, params: m.slice(1).map((p) => decodeURIComponent(p)) };
    }
    return undefined;
  }
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export function send(res: ServerResponse, status: number, body: unknown): void {
  if (body instanceof Binary) {
    res.writeHead(status, { 'content-type': body.type, 'content-length': body.data.length });
    res.end(body.data);
    return;
  }
  const text = JSON.stringify(body ?? {});
  res.writeHead(status, { 'content-type': 'application/json', 'access-control-allow-origin': '*' });
  res.end(text);
}
