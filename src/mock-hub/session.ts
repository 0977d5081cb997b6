// One provider user's WebSocket session (spec 2, 3): the open handshake (first frame `open`, JWT
// checked by the hub, `<opened session t>` or `<failure>` + close 4401/4403), then the stanza loop.
// Frame rules: binary → close 1003; over max_frame_bytes → 1009 (ws maxPayload, and the parser's
// cap); before `opened` any bad frame → 1007; after it a well-formed frame with a forbidden
// construct or bad fields → `<ack class=ROOT id=ID error=400 reason=bad-request>`, an unknown root
// → `<ack class="unknown" … reason=unrecognized-stanza>`, not well-formed → 1007. The hub pings
// every ping_interval_s and drops a session silent for ping_timeout_s; with no stanza traffic for
// idle_timeout_s it sends `<close reason="idle"/>` and closes. Stanza contents are never logged.
import type { Logger } from 'pino';
import type { WebSocket, RawData } from 'ws';
import { CLOSE_CODES, ProtocolError, buildStanza, isValidId, newId, parseStanza } from '../protocol/index.ts';
import type { AckStanza, FailureReason, OpenStanza, Stanza } from '../protocol/index.ts';
import type { MockHubConfig } from './config.ts';
import type { Outlet } from './offline.ts';
import type { LiveSession } from './sessions.ts';
import type { TimerHandle, Timers } from './timers.ts';

export type OpenResult = { ok: true; user: string; provider: string } | { ok: false; reason: FailureReason };

export interface SessionHooks {
  limits: MockHubConfig['limits'];
  timers: Timers;
  log: Logger;
  authenticate(open: OpenStanza): Promise<OpenResult>;
  /** After `<opened>` was sent: register, deliver what is queued. */
  opened(s: Session): void;
  /** A stanza after `opened`. */
  stanza(s: Session, st: Stanza): void;
  /** Periodic: same-session redelivery (spec 5). */
  tick(s: Session): void;
  /** Once, when the session ends (by either side). */
  closed(s: Session): void;
}

const FAILURE_CODES: Record<FailureReason, number> = {
  'not-authorized': CLOSE_CODES.notAuthorized,
  'unknown-provider': CLOSE_CODES.forbidden,
  delisted: CLOSE_CODES.forbidden,
  conflict: CLOSE_CODES.conflict,
};

type State = 'waiting' | 'authenticating' | 'open' | 'closed';

export class Session implements LiveSession, Outlet {
  readonly id = newId();
  user = '';
  provider = '';
  readonly #ws: WebSocket;
  readonly #hooks: SessionHooks;
  #state: State = 'waiting';
  #early: string[] = [];
  #lastHeard = Date.now();
  #lastTraffic = Date.now();
  #lastPing = Date.now();
  #ticker: TimerHandle | undefined;
  #openWait: TimerHandle | undefined;

  constructor(ws: WebSocket, hooks: SessionHooks) {
    this.#ws = ws;
    this.#hooks = hooks;
    ws.on('message', (data, isBinary) => this.#onFrame(data, isBinary));
    ws.on('pong', () => {
      this.#lastHeard = Date.now();
    });
    ws.on('close', () => this.#finish());
    ws.on('error', (err) => {
      hooks.log.debug({ session: this.id, err: err.message }, 'websocket error');
      this.#finish();
    });
    const { ping_interval_s: ping, ping_timeout_s: timeout, idle_timeout_s: idle, redeliver_after_s: redeliver } = hooks.limits;
    const tickMs = Math.min(1000, Math.max(50, (Math.min(ping, idle, redeliver) * 1000) / 4));
    this.#ticker = hooks.timers.every(tickMs, () => this.#tick());
    this.#openWait = hooks.timers.after(timeout * 1000, () => {
      if (this.#state === 'waiting') this.fail('not-authorized');
    });
  }

  get isOpen(): boolean {
    return this.#state === 'open';
  }

  send(stanza: Stanza): void {
    if (this.#state === 'closed' || this.#ws.readyState !== this.#ws.OPEN) return;
    let frame: string;
    try {
      frame = buildStanza(stanza);
    } catch (err) {
      this.#hooks.log.error({ session: this.id, kind: stanza.kind, err: err instanceof Error ? err.message : String(err) }, 'cannot build stanza');
      return;
    }
    this.#lastTraffic = Date.now();
    this.#ws.send(frame);
  }

  fail(reason: FailureReason): void {
    if (this.#state === 'closed') return;
    this.send({ kind: 'failure', reason });
    this.close(FAILURE_CODES[reason]);
  }

  close(code: number = CLOSE_CODES.normal, reason?: string): void {
    if (this.#state === 'closed') return;
    try {
      this.#ws.close(code, reason);
    } catch {
      this.#ws.terminate();
    }
    this.#finish();
  }

  /** Drops the TCP connection at once (ping timeout, hub shutdown). */
  terminate(): void {
    this.#ws.terminate();
    this.#finish();
  }

  #onFrame(data: RawData, isBinary: boolean): void {
    if (this.#state === 'closed') return;
    this.#lastHeard = Date.now();
    if (isBinary) return this.close(CLOSE_CODES.unsupportedData);
    const frame = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
    if (this.#state === 'waiting') return void this.#onOpen(frame);
    if (this.#state === 'authenticating') {
      this.#early.push(frame);
      return;
    }
    this.#onStanzaFrame(frame);
  }

  async #onOpen(frame: string): Promise<void> {
    let st: Stanza;
    try {
      st = parseStanza(frame, { maxBytes: this.#hooks.limits.max_frame_bytes });
    } catch (err) {
      // spec 3: before <opened> a frame that is not well-formed or has a forbidden construct
      // closes the session (1009 for an oversized one); a well-formed frame that is not a valid
      // `open` is "a first frame that is not open" (spec 2): not-authorized
      if (err instanceof ProtocolError && (err.code === 'bad-request' || err.code === 'unrecognized-stanza')) return this.fail('not-authorized');
      return this.close(err instanceof ProtocolError ? err.closeCode : CLOSE_CODES.invalidPayload);
    }
    if (st.kind !== 'open') return this.fail('not-authorized');
    this.#state = 'authenticating';
    this.#openWait?.cancel();
    let r: OpenResult;
    try {
      r = await this.#hooks.authenticate(st);
    } catch (err) {
      this.#hooks.log.error({ session: this.id, err }, 'authentication crashed');
      r = { ok: false, reason: 'not-authorized' };
    }
    if ((this.#state as State) === 'closed') return;
    if (!r.ok) {
      this.#state = 'waiting';
      return this.fail(r.reason);
    }
    this.user = r.user;
    this.provider = r.provider;
    this.#state = 'open';
    this.#lastTraffic = Date.now();
    this.send({ kind: 'opened', session: this.id, t: Math.floor(Date.now() / 1000) });
    this.#hooks.log.info({ session: this.id, user: this.user }, 'session opened');
    this.#hooks.opened(this);
    const early = this.#early;
    this.#early = [];
    for (const f of early) if (this.isOpen) this.#onStanzaFrame(f);
  }

  #onStanzaFrame(frame: string): void {
    this.#lastTraffic = Date.now();
    let st: Stanza;
    try {
      st = parseStanza(frame, { maxBytes: this.#hooks.limits.max_frame_bytes });
    } catch (err) {
      if (!(err instanceof ProtocolError) || err.fatal) {
        return this.close(err instanceof ProtocolError ? err.closeCode : CLOSE_CODES.invalidPayload);
      }
      const unknown = err.code === 'unrecognized-stanza';
      const ack: AckStanza = {
        kind: 'ack',
        class: unknown ? 'unknown' : (err.root ?? 'unknown'),
        error: 400,
        reason: unknown ? 'unrecognized-stanza' : 'bad-request',
      };
      if (err.id !== undefined && isValidId(err.id)) ack.id = err.id;
      // a root name that is not a valid ack class (odd characters) is answered as "unknown"
      try {
        buildStanza(ack);
      } catch {
        ack.class = 'unknown';
      }
      return this.send(ack);
    }
    try {
      this.#hooks.stanza(this, st);
    } catch (err) {
      this.#hooks.log.error({ session: this.id, kind: st.kind, err }, 'stanza handler failed');
    }
  }

  #tick(): void {
    if (this.#state === 'closed') return;
    const now = Date.now();
    const { ping_interval_s: ping, ping_timeout_s: timeout, idle_timeout_s: idle } = this.#hooks.limits;
    if (now - this.#lastHeard >= timeout * 1000) {
      this.#hooks.log.info({ session: this.id, user: this.user }, 'ping timeout');
      return this.terminate();
    }
    if (now - this.#lastPing >= ping * 1000) {
      this.#lastPing = now;
      try {
        this.#ws.ping();
      } catch {
        return this.terminate();
      }
    }
    if (this.#state === 'open' && now - this.#lastTraffic >= idle * 1000) {
      this.send({ kind: 'close', reason: 'idle' });
      return this.close(CLOSE_CODES.normal);
    }
    if (this.#state === 'open') this.#hooks.tick(this);
  }

  #finish(): void {
    if (this.#state === 'closed') return;
    const wasOpen = this.#state === 'open';
    this.#state = 'closed';
    this.#ticker?.cancel();
    this.#openWait?.cancel();
    if (wasOpen) {
      this.#hooks.log.info({ session: this.id, user: this.user }, 'session closed');
      this.#hooks.closed(this);
    }
  }
}
