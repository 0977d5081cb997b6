// Streams a media URL: a provider-given attachment URL (outbound) or a hub blob's `url` (inbound,
// spec 11.1). Only http and https; at most `maxRedirects` redirects, each again http(s) and never
// from https down to http; a byte cap enforced on Content-Length (refused before reading) and on
// the bytes actually received (the stream errors as soon as one byte too many arrives); one
// deadline for the whole transfer, body included. Private addresses are refused unless allowed
// (address-guard.ts). Errors are MediaError: too-large, timeout, fetch-failed.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { assertPublicHost, publicOnlyLookup } from './address-guard.ts';
import { MediaError } from './errors.ts';

export interface FetchOptions {
  maxBytes: number;
  /** Deadline for the whole transfer (connect, redirects, headers and body). */
  timeoutMs: number;
  maxRedirects?: number;
  /** Allow loopback and private networks (tests, a mock hub on localhost). Default false. */
  allowPrivateAddresses?: boolean;
  /** What `too-large` says the limit is about, e.g. "the image limit". */
  limitLabel?: string;
}

export interface FetchedStream {
  /** The body; errors with MediaError (too-large, timeout, fetch-failed) mid-way. */
  stream: Readable;
  contentLength?: number;
  contentType?: string;
  /** From Content-Disposition, else the last path segment of the final URL. */
  filename?: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export async function fetchStream(input: string, o: FetchOptions): Promise<FetchedStream> {
  let url = httpUrl(input);
  let current: { destroy(err: Error): unknown } | undefined;
  const timer = setTimeout(() => current?.destroy(new MediaError('timeout', `no complete answer within ${o.timeoutMs} ms`)), o.timeoutMs);
  try {
    for (let hop = 0; ; hop += 1) {
      if (o.allowPrivateAddresses !== true) assertPublicHost(url.hostname);
      const res = await get(url, o.allowPrivateAddresses === true, (r) => (current = r));
      current = res;
      const status = res.statusCode ?? 0;
      if (REDIRECTS.has(status)) {
        res.resume();
        if (hop >= (o.maxRedirects ?? 5)) throw new MediaError('fetch-failed', `too many redirects from ${url.host}`);
        url = redirectTarget(url, res.headers.location);
        continue;
      }
      if (status !== 200) {
        res.resume();
        throw new MediaError('fetch-failed', `${url.host} answered HTTP ${status}`, { retryable: status >= 500 || status === 408 || status === 429 });
      }
      const declared = res.headers['content-length'] === undefined ? undefined : Number(res.headers['content-length']);
      const label = o.limitLabel ?? 'the limit';
      if (declared !== undefined && Number.isSafeInteger(declared) && declared > o.maxBytes) {
        res.destroy();
        throw new MediaError('too-large', `the file is ${declared} bytes, over ${label} of ${o.maxBytes}`);
      }
      const limited = capBytes(o.maxBytes, label);
      // Errors of the response (the deadline, a connection cut mid-body) reach the reader as
      // MediaError; a reader that gives up early releases the connection and the timer.
      res.on('error', (err) => limited.destroy(err instanceof MediaError ? err : new MediaError('fetch-failed', `download from ${url.host} broke off: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { retryable: true, cause: err })));
      limited.on('close', () => {
        clearTimeout(timer);
        if (!res.complete) res.destroy();
      });
      // Bytes start flowing before the caller attaches its reader: an early error is kept on
      // the stream (`errored`) and reported to the reader's pipeline or for-await, not thrown
      // as an unhandled event.
      limited.on('error', () => undefined);
      current = limited;
      res.pipe(limited);
      const filename = filenameFrom(res.headers['content-disposition']) ?? lastSegment(url);
      const out: FetchedStream = { stream: limited };
      if (declared !== undefined && Number.isSafeInteger(declared)) out.contentLength = declared;
      if (typeof res.headers['content-type'] === 'string') out.contentType = res.headers['content-type'];
      if (filename !== undefined) out.filename = filename;
      return out;
    }
  } catch (err) {
    clearTimeout(timer);
    throw err;
  }
}

function httpUrl(input: string): URL {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new MediaError('fetch-failed', 'not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new MediaError('fetch-failed', `only http and https URLs are fetched, not ${url.protocol}`);
  if (url.username !== '' || url.password !== '') throw new MediaError('fetch-failed', 'URLs with credentials are not fetched');
  return url;
}

function redirectTarget(from: URL, location: string | undefined): URL {
  if (location === undefined) throw new MediaError('fetch-failed', `${from.host} redirected without a Location`);
  let next: URL;
  try {
    next = httpUrl(new URL(location, from).href);
  } catch (err) {
    throw err instanceof MediaError ? new MediaError('fetch-failed', `redirect refused: ${err.message}`) : err;
  }
  if (from.protocol === 'https:' && next.protocol === 'http:') throw new MediaError('fetch-failed', 'redirect from https to http refused');
  return next;
}

function get(url: URL, allowPrivate: boolean, onRequest: (r: { destroy(err: Error): unknown }) => void): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, {
      method: 'GET',
      headers: { 'accept-encoding': 'identity', 'user-agent': 'causeway-media/1' },
      ...(allowPrivate ? {} : { lookup: publicOnlyLookup }),
    });
    onRequest(req);
    req.once('response', resolve);
    req.once('error', (err) => reject(err instanceof MediaError ? err : new MediaError('fetch-failed', `cannot fetch from ${url.host}: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { retryable: true, cause: err })));
    req.end();
  });
}

/** Passes bytes through until more than `max` arrive, then errors with `too-large`. */
function capBytes(max: number, label: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      seen += chunk.length;
      if (seen > max) done(new MediaError('too-large', `the file is over ${label} of ${max} bytes`));
      else done(null, chunk);
    },
  });
}

function filenameFrom(disposition: string | undefined): string | undefined {
  if (disposition === undefined) return undefined;
  const star = /filename\*\s*=\s*(?:utf-8|UTF-8)''([^;]+)/.exec(disposition);
  if (star?.[1] !== undefined) {
    try {
      return decodeURIComponent(star[1].trim());
    } catch {
      // fall through to the plain parameter
    }
  }
  const plain = /filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/.exec(disposition);
  const value = plain?.[1]?.replace(/\\(.)/g, '$1') ?? plain?.[2];
  return value === undefined || value === '' ? undefined : value;
}

function lastSegment(url: URL): string | undefined {
  const seg = url.pathname.split('/').pop();
  if (seg === undefined || seg === '') return undefined;
  try {
    return decodeURIComponent(seg);
  } catch {
    return seg;
  }
}
