// One HIP/1 session over one WebSocket, for one provider user (spec 2): the open handshake, typed
// sending, iq request/answer matching, server-ack matching for messages and receipts, and
// dispatch of everything the hub pushes (messages, receipts, notifications, chat states). It
// knows nothing of keys or queues; the session manager (sessions.ts) owns reconnects.
import { WebSocket } from 'ws';
import {
  buildStanza, newId, parseStanza, ProtocolError, CLOSE_CODES, MAX_FRAME_BYTES,
  type AckStanza, type IqQuery, type IqResultPayload, type OutgoingMessage, type ReceiptStanza, type Stanza,
} from '../protocol/index.ts';

export class HubSessionError extends Error {
  override readonly name = 'HubSessionError';
  /** `failure` reason (spec 2) or close code, when the hub refused or ended the session. */
  readonly reason: string;
  readonly closeCode: number | undefined;
  constructor(message: string, reason: string, closeCode?: number) {
    super(message);
    this.reason = reason;
    this.closeCode = closeCode;
  }
}

export class HubIqError extends Error {
  override readonly name = 'HubIqError';
  readonly code: number;
  readonly reason: string;
  constructor(code: number, reason: string) {
    super(`hub answered ${code} ${reason}`);
    this.code = code;
    this.reason = reason;
  }
}

export class HubTimeoutError extends Error {
  override readonly name = 'HubTimeoutError';
}

/** What the hub pushes that the layers above handle (each needs an ack from them, spec 5/6/8). */
export type InboundStanza = Extract<Stanza, { kind: 'message' | 'receipt' | 'notification' | 'chatstate' }>;

export interface HubConnectionOptions {
  /** ws(s)://host:port — the path /hip/v1/session is added. */
  hubUrl: string;
  user: string;
  token: string;
  openTimeoutMs?: number;
  /** Called for each pushed stanza, in order; `conn` is this connection (already usable). */
  onInbound: (s: InboundStanza, conn: HubConnection) => void;
  onClose?: (code: number, reason: string) => void;
}

interface Waiter<T> {
  resolve(v: T): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class HubConnection {
  readonly user: string;
  session = '';
  #ws: WebSocket;
  readonly #iqs = new Map<string, Array<Waiter<IqResultPayload>>>();
  // A list per key: the same message id can be sent twice on one session at once (a retry answer,
  // spec 6.2, while the original's ack is awaited), and the hub acks each send, in order.
  readonly #acks = new Map<string, Array<Waiter<AckStanza>>>();
  #closed = false;
  lastActivity = Date.now();

  private constructor(ws: WebSocket, user: string) {
    this.#ws = ws;
    this.user = user;
  }

  static open(o: HubConnectionOptions): Promise<HubConnection> {
    const ws = new WebSocket(`${o.hubUrl.replace(/\/$/, '')}/hip/v1/session`, 'hip.1', { maxPayload: MAX_FRAME_BYTES });
    const conn = new HubConnection(ws, o.user);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new HubTimeoutError(`no <opened> from the hub within ${o.openTimeoutMs ?? 10_000} ms`));
      }, o.openTimeoutMs ?? 10_000);
      let opened = false;
      ws.on('open', () => ws.send(buildStanza({ kind: 'open', user: o.user, token: o.token })));
      ws.on('error', (err) => {
        if (!opened) {
          clearTimeout(timer);
          reject(new HubSessionError(`cannot reach the hub: ${err.message}`, 'unreachable'));
        }
      });
      ws.on('close', (code, reasonBuf) => {
        clearTimeout(timer);
        conn.#failAll(new HubSessionError(`session closed (${code})`, reasonBuf.toString() || 'closed', code));
        if (!opened) reject(new HubSessionError(`hub closed the session before opening it (${code})`, 'closed', code));
        else o.onClose?.(code, reasonBuf.toString());
      });
      ws.on('message', (data, isBinary) => {
        conn.lastActivity = Date.now();
        if (isBinary) return ws.close(CLOSE_CODES.unsupportedData);
        let s: Stanza;
        try {
          s = parseStanza(data.toString('utf8'));
        } catch (err) {
          if (err instanceof ProtocolError && !err.fatal && opened) return; // a bad stanza from the hub is ignored
          return ws.close(err instanceof ProtocolError ? err.closeCode : CLOSE_CODES.invalidPayload);
        }
        if (!opened) {
          clearTimeout(timer);
          if (s.kind === 'opened') {
            opened = true;
            conn.session = s.session;
            resolve(conn);
          } else if (s.kind === 'failure') {
            reject(new HubSessionError(`hub refused the session: ${s.reason}`, s.reason));
            // The hub should close it now (spec 2); not left open if it does not.
            ws.close(CLOSE_CODES.normal);
          } else {
            ws.close(CLOSE_CODES.invalidPayload);
          }
          return;
        }
        conn.#dispatch(s, (x) => o.onInbound(x, conn));
      });
    });
  }

  get open(): boolean {
    return !this.#closed && this.#ws.readyState === WebSocket.OPEN;
  }

  #dispatch(s: Stanza, onInbound: (s: InboundStanza) => void): void {
    switch (s.kind) {
      case 'iq': {
        const w = take(this.#iqs, s.id);
        if (!w) return;
        clearTimeout(w.timer);
        if (s.type === 'result') w.resolve(s.result);
        else if (s.type === 'error') w.reject(new HubIqError(s.error.code, s.error.reason));
        return;
      }
      case 'ack': {
        const key = s.class === 'message' ? ackKey('message', s.id ?? '') : ackKey(s.class, s.id ?? '', s.type, s.to);
        const w = take(this.#acks, key);
        if (!w) return;
        clearTimeout(w.timer);
        w.resolve(s);
        return;
      }
      case 'close':
        this.close();
        return;
      case 'message':
      case 'receipt':
      case 'notification':
      case 'chatstate':
        onInbound(s);
        return;
      default:
        return;
    }
  }

  send(s: Stanza): void {
    if (!this.open) throw new HubSessionError('session is not open', 'closed');
    this.lastActivity = Date.now();
    this.#ws.send(buildStanza(s));
  }

  /** Sends a request iq and resolves with its result payload; HubIqError for an error answer. */
  iq(query: IqQuery, type: 'get' | 'set', timeoutMs = 10_000): Promise<IqResultPayload> {
    const id = newId();
    return this.#wait(this.#iqs, id, timeoutMs, () => this.send({ kind: 'iq', id, type, query }));
  }

  /** Sends a message (or a stored, already built frame of it) and resolves with the server ack. */
  sendMessage(m: OutgoingMessage | { id: string; frame: string }, timeoutMs = 15_000): Promise<AckStanza> {
    return this.#wait(this.#acks, ackKey('message', m.id), timeoutMs, () => {
      if ('frame' in m) {
        if (!this.open) throw new HubSessionError('session is not open', 'closed');
        this.#ws.send(m.frame);
      } else this.send(m);
    });
  }

  sendReceipt(r: ReceiptStanza, timeoutMs = 15_000): Promise<AckStanza> {
    const type = r.type === 'delivery' ? undefined : r.type;
    return this.#wait(this.#acks, ackKey('receipt', r.id, type, r.to), timeoutMs, () => this.send(r));
  }

  #wait<T>(map: Map<string, Array<Waiter<T>>>, key: string, timeoutMs: number, send: () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        drop(map, key, w);
        reject(new HubTimeoutError(`no answer from the hub within ${timeoutMs} ms`));
      }, timeoutMs);
      const w: Waiter<T> = { resolve, reject, timer };
      const list = map.get(key);
      if (list) list.push(w);
      else map.set(key, [w]);
      try {
        send();
      } catch (err) {
        clearTimeout(timer);
        drop(map, key, w);
        reject(err as Error);
      }
    });
  }

  #failAll(err: Error): void {
    this.#closed = true;
    for (const map of [this.#iqs, this.#acks] as Array<Map<string, Array<Waiter<unknown>>>>) {
      for (const list of map.values()) {
        for (const w of list) {
          clearTimeout(w.timer);
          w.reject(err);
        }
      }
      map.clear();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(buildStanza({ kind: 'close' }));
    } finally {
      this.#ws.close(CLOSE_CODES.normal);
    }
  }
}

/** The oldest waiter under `key`, removed (answers come in the order of the sends). */
function take<T>(map: Map<string, Array<Waiter<T>>>, key: string): Waiter<T> | undefined {
  const list = map.get(key);
  const w = list?.shift();
  if (list?.length === 0) map.delete(key);
  return w;
}

/** Removes one waiter (timed out, or its send failed), leaving the others under its key. */
function drop<T>(map: Map<string, Array<Waiter<T>>>, key: string, w: Waiter<T>): void {
  const list = map.get(key);
  if (!list) return;
  const i = list.indexOf(w);
  if (i >= 0) list.splice(i, 1);
  if (list.length === 0) map.delete(key);
}

/** Receipt acks are told apart by id, type and peer (spec 3); a delivery receipt has no type. */
function ackKey(cls: string, id: string, type?: string, to?: string): string {
  return `${cls}|${id}|${type === 'delivery' ? '' : (type ?? '')}|${to ?? ''}`;
}
