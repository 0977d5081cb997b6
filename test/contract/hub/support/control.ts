// A thin client of the hub's control API (the fixture surface of docs/mock-hub.md): hub users,
// devices, opt-in, blocks, scripted behaviour, faults, and read-outs of what the hub saw. Every call
// returns status and parsed JSON; the `…Ok` helpers throw on an unexpected status so that a fixture
// that did not take effect cannot pass silently.

export interface ControlResponse<T = unknown> {
  status: number;
  body: T;
}

export interface ThirdParty { enabled: boolean; providers?: string[] }
export interface Script { echo?: boolean; receipts?: boolean; read?: boolean; delay_ms?: number }

export interface InboxMessage {
  id: string;
  from: string;
  participant: string;
  device: number;
  t: number;
  received_at_ms: number;
  sent_at_ms: number;
  offline: boolean;
  decrypted: boolean;
  error?: string;
  content?: {
    text?: string;
    media?: { kind: string; mime: string; size: number; sha256: string; filename?: string };
    reply?: { to: string; sender: string };
    fallbacks?: Array<{ for: string; text: string }>;
  };
  count?: number;
}

export interface HubUserReceipt {
  id: string;
  from?: string;
  participant?: string;
  type?: string;
  ids?: string[];
  [k: string]: unknown;
}

export interface ProviderUserView {
  jid: string;
  enlisted: boolean;
  has_keys: boolean;
  prekeys: { ec: number; kyber: number };
  session_open: boolean;
  offline: number;
}

export interface PushRecord { user: string; pending: number; status: number | string; at_ms: number }

export interface Faults {
  refuse_sessions_for_s?: number;
  ack_delay_ms?: number;
  drop_acks_rate?: number;
  error?: { rate: number; code: 429 | 500 | 503; retry_after?: number };
  stop_routing_for_s?: number;
}

export interface SendBody {
  to: string;
  text?: string;
  media?: { kind: string; mime: string; data: string; filename?: string };
  reply_to?: string;
  from_device?: number;
}

export class Control {
  readonly base: string;
  readonly #token: string;
  constructor(base: string, token: string) {
    this.base = base.replace(/\/$/, '');
    this.#token = token;
  }

  async call<T = unknown>(method: string, path: string, body?: unknown, opts: { auth?: string | null } = {}): Promise<ControlResponse<T>> {
    const headers: Record<string, string> = {};
    const auth = opts.auth === undefined ? `Bearer ${this.#token}` : opts.auth;
    if (auth !== null) headers.authorization = auth;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${this.base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      /* keep the text */
    }
    return { status: res.status, body: parsed as T };
  }

  async ok<T = unknown>(method: string, path: string, body: unknown, expected: number | number[]): Promise<T> {
    const r = await this.call<T>(method, path, body);
    const want = Array.isArray(expected) ? expected : [expected];
    if (!want.includes(r.status)) {
      throw new Error(`control ${method} ${path} answered ${r.status} (wanted ${want.join('|')}): ${JSON.stringify(r.body)}`);
    }
    return r.body;
  }

  createUser(body: { phone: string; name?: string; devices?: number[]; third_party?: ThirdParty; script?: Script }): Promise<{ jid: string; devices: number[] }> {
    return this.ok('POST', '/control/users', body, 201);
  }
  getUser(jid: string): Promise<{ jid: string; phone: string; name?: string; devices: Array<{ id: number; identity: string }>; third_party: ThirdParty; blocked: string[]; script: Script }> {
    return this.ok('GET', `/control/users/${jid}`, undefined, 200);
  }
  addDevice(jid: string, device?: number): Promise<{ device: number; dhash: string }> {
    return this.ok('POST', `/control/users/${jid}/devices`, device === undefined ? {} : { device }, 201);
  }
  removeDevice(jid: string, device: number): Promise<{ dhash: string }> {
    return this.ok('DELETE', `/control/users/${jid}/devices/${device}`, undefined, 200);
  }
  setThirdParty(jid: string, body: ThirdParty): Promise<unknown> {
    return this.ok('PUT', `/control/users/${jid}/third-party`, body, [200, 204]);
  }
  resetIdentity(jid: string, device?: number): Promise<unknown> {
    return this.ok('POST', `/control/users/${jid}/identity`, device === undefined ? {} : { device }, [200, 204]);
  }
  block(jid: string, body: { user?: string; provider?: string }): Promise<unknown> {
    return this.ok('POST', `/control/users/${jid}/block`, body, [200, 201, 204]);
  }
  unblock(jid: string, body: { user?: string; provider?: string }): Promise<unknown> {
    return this.ok('DELETE', `/control/users/${jid}/block`, body, [200, 204]);
  }
  setScript(jid: string, body: Script): Promise<unknown> {
    return this.ok('PUT', `/control/users/${jid}/script`, body, [200, 204]);
  }
  send(jid: string, body: SendBody): Promise<{ id: string }> {
    return this.ok('POST', `/control/users/${jid}/send`, body, 201);
  }
  sendReceipts(jid: string, body: { to: string; ids: string[]; type: 'delivery' | 'read' | 'played' }): Promise<unknown> {
    return this.ok('POST', `/control/users/${jid}/receipts`, body, [200, 201, 204]);
  }
  async inbox(jid: string): Promise<InboxMessage[]> {
    return (await this.ok<{ messages: InboxMessage[] }>('GET', `/control/users/${jid}/inbox`, undefined, 200)).messages;
  }
  clearInbox(jid: string): Promise<unknown> {
    return this.ok('DELETE', `/control/users/${jid}/inbox`, undefined, [200, 204]);
  }
  async receipts(jid: string): Promise<HubUserReceipt[]> {
    const body = await this.ok<{ receipts: HubUserReceipt[] } | HubUserReceipt[]>('GET', `/control/users/${jid}/receipts`, undefined, 200);
    return Array.isArray(body) ? body : body.receipts;
  }
  providers(): Promise<unknown> {
    return this.ok('GET', '/control/providers', undefined, 200);
  }
  enrolProvider(body: { id: string; name: string; jwks?: { keys: object[] }; jwks_url?: string; push_url?: string; push_secret?: string }): Promise<unknown> {
    return this.ok('POST', '/control/providers', body, [200, 201]);
  }
  delistProvider(id: string): Promise<unknown> {
    return this.ok('DELETE', `/control/providers/${id}`, undefined, [200, 204]);
  }
  providerUser(jid: string): Promise<ProviderUserView> {
    return this.ok('GET', `/control/provider-users/${jid}`, undefined, 200);
  }
  async pushes(): Promise<PushRecord[]> {
    return (await this.ok<{ pushes: PushRecord[] }>('GET', '/control/pushes', undefined, 200)).pushes;
  }
  setFaults(body: Faults): Promise<unknown> {
    return this.ok('PUT', '/control/faults', body, [200, 204]);
  }
  clearFaults(): Promise<unknown> {
    return this.ok('DELETE', '/control/faults', undefined, [200, 204]);
  }
  stats(): Promise<{ sessions: number; messages_accepted: number; messages_delivered: number; offline_stored: number; pushes_sent: number }> {
    return this.ok('GET', '/control/stats', undefined, 200);
  }

  /** Polls `read` until `done` holds (the hub acts asynchronously after acks). */
  async until<T>(read: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 5000, what = 'condition'): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: T = await read();
    while (!done(last)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value ${JSON.stringify(last)}`);
      await new Promise((r) => setTimeout(r, 50));
      last = await read();
    }
    return last;
  }
}
