// One raw WebSocket speaking HIP/1 frames (spec 2, 3): one stanza per text frame, subprotocol
// `hip.1`. Part of the reference client for tests, demos and providers' CI — not the sidecar.
// Incoming stanzas are buffered; `next()` takes the first that matches and leaves the others queued.
import WebSocket from 'ws';
import type { RawData } from 'ws';
import { IQ_OP_TYPE, buildStanza, newId, parseStanza } from '../../protocol/index.ts';
import type { IqError, IqQuery, IqResult, Stanza, StanzaKind } from '../../protocol/index.ts';
import { WaitQueue } from './wait-queue.ts';

/** The upgrade was refused (e.g. HTTP 400 without subprotocol `hip.1`, spec 2). */
export class HipUpgradeError extends Error {
  override readonly name = 'HipUpgradeError';
  readonly status: number;
  constructor(status: number) {
    super(`WebSocket upgrade refused with HTTP ${status}`);
    this.status = status;
  }
}

/** The session closed while something was waited for. */
export class HipClosedError extends Error {
  override readonly name = 'HipClosedError';
  readonly code: number;
  readonly reason: string;
  constructor(code: number, reason: string) {
    super(`HIP session closed: ${code}${reason === '' ? '' : ` ${reason}`}`);
    this.code = code;
    this.reason = reason;
  }
}

export interface ConnectOptions {
  /** Subprotocol to ask for; default `hip.1`, `null` for none (to test the refusal). */
  protocol?: string | null;
  /** Keep every frame in `log` (for debugging and conformance checks). */
  log?: boolean;
}

export interface FrameLogEntry { dir: 'in' | 'out'; frame: string; at: number }

export class HipConnection {
  readonly #ws: WebSocket;
  readonly #queue = new WaitQueue<Stanza>();
  /** Frames the hub sent that did not parse (a conforming hub sends none). */
  readonly parseErrors: Array<{ frame: string; error: Error }> = [];
  readonly log: FrameLogEntry[] | undefined;
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(ws: WebSocket, log: boolean) {
    this.#ws = ws;
    this.log = log ? [] : undefined;
    ws.on('message', (data, isBinary) => this.#onFrame(data, isBinary));
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        const r = reason.toString('utf8');
        this.#queue.end(new HipClosedError(code, r));
        resolve({ code, reason: r });
      });
    });
    // Errors after the upgrade surface as a close; keep them from crashing the process.
    ws.on('error', () => undefined);
  }

  static connect(wsUrl: string, opts: ConnectOptions = {}): Promise<HipConnection> {
    const protocol = opts.protocol === undefined ? 'hip.1' : opts.protocol;
    const ws = protocol === null ? new WebSocket(wsUrl) : new WebSocket(wsUrl, protocol);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new HipConnection(ws, opts.log ?? false)));
      ws.once('unexpected-response', (req, res) => {
        req.destroy();
        reject(new HipUpgradeError(res.statusCode ?? 0));
      });
      ws.once('error', reject);
    });
  }

  /** The subprotocol the hub accepted. */
  get protocol(): string {
    return this.#ws.protocol;
  }

  get isOpen(): boolean {
    return this.#ws.readyState === WebSocket.OPEN;
  }

  /** Sends a frame as is: a string as a text frame, a Buffer as a binary frame. */
  sendRaw(data: string | Buffer): void {
    if (typeof data === 'string') this.log?.push({ dir: 'out', frame: data, at: Date.now() });
    this.#ws.send(data, { binary: typeof data !== 'string' });
  }

  send(s: Stanza): void {
    this.sendRaw(buildStanza(s));
  }

  /**
   * The first buffered stanza that matches (a kind or a predicate), else the next to arrive.
   * Stanzas not matched stay queued. Rejects with TimeoutError, or HipClosedError once closed.
   */
  next<K extends StanzaKind>(match: K, timeoutMs?: number): Promise<Extract<Stanza, { kind: K }>>;
  next<S extends Stanza>(match: (s: Stanza) => s is S, timeoutMs?: number): Promise<S>;
  next(match?: (s: Stanza) => boolean, timeoutMs?: number): Promise<Stanza>;
  next(match?: StanzaKind | ((s: Stanza) => boolean), timeoutMs = 5000): Promise<Stanza> {
    const pred = typeof match === 'string' ? (s: Stanza) => s.kind === match : (match ?? (() => true));
    const what = typeof match === 'string' ? `a <${match}>` : 'a matching stanza';
    return this.#queue.next(pred, timeoutMs, what);
  }

  /** Stanzas received and not yet taken by next() (a copy). */
  pending(): Stanza[] {
    return this.#queue.pending();
  }

  /** Sends a request with a new id and waits for the result or error with that id (spec 7). */
  async iq(query: IqQuery, timeoutMs = 5000): Promise<IqResult | IqError> {
    const id = newId();
    this.send({ kind: 'iq', id, type: IQ_OP_TYPE[query.op], query });
    return this.next((s): s is IqResult | IqError => s.kind === 'iq' && s.id === id && (s.type === 'result' || s.type === 'error'), timeoutMs);
  }

  /** Ends the session politely with `<close/>` (spec 2), then closes the socket. */
  close(): void {
    if (this.isOpen) {
      try {
        this.send({ kind: 'close' });
      } catch {
        // The socket may be closing already; nothing to do.
      }
      this.#ws.close(1000);
    } else if (this.#ws.readyState === WebSocket.CONNECTING) {
      this.#ws.terminate();
    }
  }

  /** Drops the TCP connection without a close handshake (a crashed client). */
  terminate(): void {
    this.#ws.terminate();
  }

  #onFrame(data: RawData, isBinary: boolean): void {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data instanceof ArrayBuffer ? new Uint8Array(data) : data);
    const frame = buf.toString('utf8');
    this.log?.push({ dir: 'in', frame: isBinary ? `<binary ${buf.length} bytes>` : frame, at: Date.now() });
    if (isBinary) {
      this.parseErrors.push({ frame: `<binary ${buf.length} bytes>`, error: new Error('binary frame from the hub') });
      return;
    }
    try {
      this.#queue.push(parseStanza(frame));
    } catch (err) {
      this.parseErrors.push({ frame, error: err instanceof Error ? err : new Error(String(err)) });
    }
  }
}
