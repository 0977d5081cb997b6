// The suite's own HIP/1 WebSocket client (deliberately independent of the reference client): one
// socket, every received frame parsed with src/protocol and queued, and helpers that wait for the
// next stanza matching a predicate, for the close code, or for silence.
import WebSocket from 'ws';
import { buildStanza, parseStanza } from '../../../../src/protocol/index.ts';
import type { AckStanza, IqStanza, Stanza } from '../../../../src/protocol/index.ts';

export const SUBPROTOCOL = 'hip.1';

export interface Received {
  raw: string;
  stanza?: Stanza;
  parseError?: string;
  at: number;
}

export interface Closed { code: number; reason: string }

export class UpgradeRefused extends Error {
  readonly status: number;
  constructor(status: number) {
    super(`WebSocket upgrade refused with HTTP ${status}`);
    this.status = status;
  }
}

type Waiter = { pred: (s: Stanza) => boolean; resolve: (s: Stanza) => void };

export class HipConn {
  readonly ws: WebSocket;
  /** Every frame received, in order (also the consumed ones). */
  readonly log: Received[] = [];
  /** Stanzas not yet taken by `next`. */
  readonly #pending: Stanza[] = [];
  readonly #waiters = new Set<Waiter>();
  readonly closed: Promise<Closed>;
  #closedWith: Closed | undefined;
  pings = 0;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.#closedWith = { code, reason: reason.toString('utf8') };
        resolve(this.#closedWith);
      });
    });
    ws.on('ping', () => {
      this.pings += 1;
    });
    ws.on('message', (data, isBinary) => {
      const raw = isBinary ? `<binary ${String((data as Buffer).length)} bytes>` : (data as Buffer).toString('utf8');
      const rec: Received = { raw, at: Date.now() };
      this.log.push(rec);
      if (isBinary) return;
      try {
        rec.stanza = parseStanza(raw);
      } catch (err) {
        rec.parseError = String(err);
        return;
      }
      this.#offer(rec.stanza);
    });
    ws.on('error', () => {
      /* surfaced through `closed` */
    });
  }

  /** Opens the WebSocket (subprotocol hip.1 unless `protocols` says otherwise; [] = none). */
  static connect(wsUrl: string, opts: { protocols?: string[]; autoPong?: boolean; maxPayload?: number } = {}): Promise<HipConn> {
    return new Promise((resolve, reject) => {
      const protocols = opts.protocols ?? [SUBPROTOCOL];
      const ws = new WebSocket(wsUrl, protocols, { autoPong: opts.autoPong ?? true, maxPayload: opts.maxPayload ?? 64 * 1024 * 1024 });
      const conn = new HipConn(ws);
      ws.once('open', () => resolve(conn));
      ws.once('unexpected-response', (_req, res) => {
        reject(new UpgradeRefused(res.statusCode ?? 0));
        res.resume();
        ws.terminate();
      });
      ws.once('error', (err) => reject(err));
    });
  }

  get isClosed(): boolean {
    return this.#closedWith !== undefined;
  }

  #offer(s: Stanza): void {
    for (const w of this.#waiters) {
      if (w.pred(s)) {
        this.#waiters.delete(w);
        w.resolve(s);
        return;
      }
    }
    this.#pending.push(s);
  }

  send(stanza: Stanza): string {
    const frame = buildStanza(stanza);
    this.ws.send(frame);
    return frame;
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  /** Takes the first received-but-untaken stanza matching `pred`, waiting for it if needed. */
  next<S extends Stanza = Stanza>(pred: (s: Stanza) => boolean, timeoutMs = 5000, what = 'a stanza'): Promise<S> {
    const i = this.#pending.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.#pending.splice(i, 1)[0] as S);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        pred,
        resolve: (s) => {
          clearTimeout(timer);
          resolve(s as S);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; frames so far:\n${this.dump()}`));
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  /** Resolves if nothing matching `pred` arrives within `ms` (also checks what is already queued). */
  async none(pred: (s: Stanza) => boolean, ms: number, what = 'stanza'): Promise<void> {
    const got = await this.next(pred, ms).then(
      (s) => s,
      () => undefined,
    );
    if (got !== undefined) throw new Error(`unexpected ${what}: ${JSON.stringify(got, binReplacer)}`);
  }

  ack(id: string, cls = 'message', timeoutMs = 5000): Promise<AckStanza> {
    return this.next<AckStanza>((s) => s.kind === 'ack' && s.class === cls && s.id === id, timeoutMs, `ack class=${cls} id=${id}`);
  }

  iqAnswer(id: string, timeoutMs = 5000): Promise<IqStanza> {
    return this.next<IqStanza>((s) => s.kind === 'iq' && s.id === id && (s.type === 'result' || s.type === 'error'), timeoutMs, `iq answer id=${id}`);
  }

  /** Untaken stanzas (for assertions that nothing else arrived). */
  pending(): readonly Stanza[] {
    return this.#pending;
  }

  /** Waits for the close, failing after `timeoutMs`. */
  async closedWithin(timeoutMs = 5000): Promise<Closed> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms; frames:\n${this.dump()}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  dump(): string {
    return this.log.map((r) => `  ← ${r.raw.length > 400 ? `${r.raw.slice(0, 400)}…` : r.raw}`).join('\n');
  }

  /** Closes the socket without `<close/>` (as a crash would). */
  async drop(): Promise<void> {
    if (this.isClosed) return;
    this.ws.terminate();
    await this.closed;
  }

  /** Ends the session politely (spec 2: the client ends with `<close/>`) and waits for the close. */
  async end(timeoutMs = 3000): Promise<Closed | undefined> {
    if (this.isClosed) return this.#closedWith;
    if (this.ws.readyState === WebSocket.OPEN) this.send({ kind: 'close' });
    try {
      return await this.closedWithin(timeoutMs);
    } catch {
      this.ws.terminate();
      return undefined;
    }
  }
}

/** JSON.stringify replacer that prints byte arrays briefly. */
export function binReplacer(_k: string, v: unknown): unknown {
  if (v instanceof Uint8Array) return `<${v.length} bytes>`;
  return v;
}
