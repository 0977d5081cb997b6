// The bridge's client-server API calls (Matrix C-S API as an application service): every request
// carries the as_token and names the user it acts as with `user_id` (AS API "identity assertion"),
// and the device with `org.matrix.msc3202.device_id` (MSC3202 device masquerading) where the
// crypto library's requests need one. Devices are created with MSC4190 (`PUT /devices/{id}`).
import { randomBytes } from 'node:crypto';
import { HttpJson } from './http-json.ts';

export class MatrixApiError extends Error {
  override readonly name = 'MatrixApiError';
  readonly status: number;
  readonly errcode: string | undefined;
  constructor(status: number, errcode: string | undefined, message: string) {
    super(message);
    this.status = status;
    this.errcode = errcode;
  }
}

export interface As {
  userId: string;
  deviceId?: string;
}

export type Json = Record<string, unknown>;

export class MatrixApi {
  readonly #base: string;
  readonly #token: () => string;
  #txn = 0;
  readonly #http = new HttpJson();
  readonly #txnBase = randomBytes(6).toString('hex');

  constructor(homeserverUrl: string, asToken: () => string) {
    this.#base = homeserverUrl.replace(/\/$/, '');
    this.#token = asToken;
  }

  /** A transaction id unique to this process. */
  txnId(): string {
    return `cw${this.#txnBase}${(this.#txn++).toString(36)}`;
  }

  async request(method: string, path: string, as: As, body?: unknown): Promise<Json> {
    const url = new URL(`${this.#base}/_matrix/client/v3${path}`);
    url.searchParams.set('user_id', as.userId);
    if (as.deviceId !== undefined) url.searchParams.set('org.matrix.msc3202.device_id', as.deviceId);
    const r = await this.#http.request(
      method, url,
      { authorization: `Bearer ${this.#token()}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    );
    let json: Json = {};
    try {
      json = r.text === '' ? {} : (JSON.parse(r.text) as Json);
    } catch {
      /* a non-JSON error page */
    }
    if (r.status < 200 || r.status > 299) {
      const errcode = typeof json.errcode === 'string' ? json.errcode : undefined;
      throw new MatrixApiError(r.status, errcode, `${method} ${path}: ${r.status} ${errcode ?? ''} ${typeof json.error === 'string' ? json.error : ''}`.trim());
    }
    return json;
  }

  /** Closes the kept-alive connections to the homeserver. */
  close(): void {
    this.#http.close();
  }

  /** Registers an appservice user (AS API); an existing user is fine. */
  async register(localpart: string, as: As): Promise<void> {
    try {
      await this.request('POST', '/register', as, { type: 'm.login.application_service', username: localpart, inhibit_login: true });
    } catch (err) {
      if (!(err instanceof MatrixApiError && err.errcode === 'M_USER_IN_USE')) throw err;
    }
  }

  /** Creates (or keeps) a device of an appservice user (MSC4190). */
  async createDevice(as: As, deviceId: string, displayName: string): Promise<void> {
    await this.request('PUT', `/devices/${encodeURIComponent(deviceId)}`, { userId: as.userId }, { display_name: displayName });
  }

  async sendEvent(as: As, roomId: string, type: string, content: unknown, txnId = this.txnId()): Promise<string> {
    const r = await this.request('PUT', `/rooms/${encodeURIComponent(roomId)}/send/${encodeURIComponent(type)}/${encodeURIComponent(txnId)}`, as, content);
    return r.event_id as string;
  }

  async sendState(as: As, roomId: string, type: string, stateKey: string, content: unknown): Promise<string> {
    const r = await this.request('PUT', `/rooms/${encodeURIComponent(roomId)}/state/${encodeURIComponent(type)}/${encodeURIComponent(stateKey)}`, as, content);
    return r.event_id as string;
  }

  async createRoom(as: As, body: Json): Promise<string> {
    return (await this.request('POST', '/createRoom', as, body)).room_id as string;
  }

  async join(as: As, roomId: string): Promise<void> {
    await this.request('POST', `/join/${encodeURIComponent(roomId)}`, as, {});
  }

  async invite(as: As, roomId: string, userId: string): Promise<void> {
    await this.request('POST', `/rooms/${encodeURIComponent(roomId)}/invite`, as, { user_id: userId });
  }

  async leave(as: As, roomId: string): Promise<void> {
    await this.request('POST', `/rooms/${encodeURIComponent(roomId)}/leave`, as, {});
  }

  async joinedMembers(as: As, roomId: string): Promise<string[]> {
    const r = await this.request('GET', `/rooms/${encodeURIComponent(roomId)}/joined_members`, as);
    return Object.keys((r.joined ?? {}) as Json);
  }

  async roomState(as: As, roomId: string, type: string, stateKey = ''): Promise<Json | undefined> {
    try {
      return await this.request('GET', `/rooms/${encodeURIComponent(roomId)}/state/${encodeURIComponent(type)}/${encodeURIComponent(stateKey)}`, as);
    } catch (err) {
      if (err instanceof MatrixApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  async setDisplayName(as: As, name: string): Promise<void> {
    await this.request('PUT', `/profile/${encodeURIComponent(as.userId)}/displayname`, as, { displayname: name });
  }

  /**
   * Uploads a file to the homeserver's media repository as `as` (`POST /_matrix/media/v3/upload`);
   * resolves its `mxc://` URI.
   */
  async upload(as: As, data: Uint8Array, contentType: string, filename?: string): Promise<string> {
    const url = new URL(`${this.#base}/_matrix/media/v3/upload`);
    url.searchParams.set('user_id', as.userId);
    if (filename !== undefined) url.searchParams.set('filename', filename);
    const r = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${this.#token()}`, 'content-type': contentType }, body: data });
    const json = (await r.json().catch(() => ({}))) as Json;
    if (!r.ok || typeof json.content_uri !== 'string') {
      const errcode = typeof json.errcode === 'string' ? json.errcode : undefined;
      throw new MatrixApiError(r.status, errcode, `POST upload: ${r.status} ${errcode ?? ''}`.trim());
    }
    return json.content_uri;
  }

  /**
   * Downloads an `mxc://` file as `as`: the authenticated endpoint (`/_matrix/client/v1/media/
   * download`, Matrix 1.11), else the legacy one (`/_matrix/media/v3/download`) when the
   * homeserver does not know the first. The caller reads (and caps) the body.
   */
  async download(as: As, mxc: string, signal?: AbortSignal): Promise<Response> {
    const m = /^mxc:\/\/([A-Za-z0-9.:[\]-]+)\/([A-Za-z0-9_-]+)$/.exec(mxc);
    if (!m) throw new MatrixApiError(400, 'M_INVALID_PARAM', 'not an mxc:// URI');
    const path = `${encodeURIComponent(m[1] as string)}/${encodeURIComponent(m[2] as string)}`;
    const get = async (prefix: string): Promise<Response> => {
      const url = new URL(`${this.#base}${prefix}/${path}`);
      url.searchParams.set('user_id', as.userId);
      url.searchParams.set('allow_redirect', 'true');
      return fetch(url, { headers: { authorization: `Bearer ${this.#token()}` }, ...(signal ? { signal } : {}) });
    };
    let r = await get('/_matrix/client/v1/media/download');
    if (r.status === 404 || r.status === 405) {
      const json = (await r.json().catch(() => ({}))) as Json;
      if (r.status === 405 || json.errcode === 'M_UNRECOGNIZED') r = await get('/_matrix/media/v3/download');
      else throw new MatrixApiError(404, typeof json.errcode === 'string' ? json.errcode : undefined, 'GET download: 404');
    }
    if (!r.ok) {
      await r.body?.cancel();
      throw new MatrixApiError(r.status, undefined, `GET download: ${r.status}`);
    }
    return r;
  }

  /** A read receipt (`m.read`) on an event, as `as`. */
  async sendReceipt(as: As, roomId: string, eventId: string): Promise<void> {
    await this.request('POST', `/rooms/${encodeURIComponent(roomId)}/receipt/m.read/${encodeURIComponent(eventId)}`, as, {});
  }
}
