// Test helpers for the mock hub's own tests: provider keys and tokens, a started hub, and a tiny
// raw HIP/1 client (one WebSocket, stanzas in and out, waiting for a matching stanza).
import { randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import pino from 'pino';
import WebSocket from 'ws';
import { buildStanza, computeDhash, deviceAddress, encodeContent, newId, parseStanza } from '../../src/protocol/index.ts';
import type { AckStanza, Content, IqQuery, IqStanza, OutgoingMessage, Stanza } from '../../src/protocol/index.ts';
import { SimDevice } from '../../src/mock-hub/sim-device.ts';
import { startMockHub } from '../../src/mock-hub/index.ts';
import type { MockHub, MockHubConfigInput } from '../../src/mock-hub/index.ts';

export const ADMIN = 'admin-token-for-tests';

export interface ProviderKeys {
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function providerKeys(alg: 'EdDSA' | 'ES256' = 'EdDSA'): Promise<ProviderKeys> {
  const { privateKey, publicKey } = alg === 'EdDSA'
    ? await generateKeyPair('EdDSA', { crv: 'Ed25519' })
    : await generateKeyPair('ES256');
  return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid: randomUUID(), alg } };
}

export interface TokenClaims {
  iss?: string;
  sub: string;
  aud?: string;
  iat?: number;
  exp?: number;
  jti?: string;
  alg?: string;
}

export async function token(keys: ProviderKeys, c: TokenClaims): Promise<string> {
  const iat = c.iat ?? Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: c.alg ?? keys.publicJwk.alg ?? 'EdDSA', kid: keys.publicJwk.kid ?? '' })
    .setIssuer(c.iss ?? c.sub.split('@')[1]!.replace(/\.interop$/, ''))
    .setSubject(c.sub)
    .setAudience(c.aud ?? 'hub')
    .setIssuedAt(iat)
    .setExpirationTime(c.exp ?? iat + 120)
    .setJti(c.jti ?? randomUUID())
    .sign(keys.privateKey);
}

export const silent = pino({ level: 'silent' });

/** Provider "birdy" as a mock hub config entry, trusting `keys` (spread to add push_url…). */
export function birdy(keys: ProviderKeys): { id: string; name: string; jwks: { keys: Array<Record<string, unknown>> } } {
  return { id: 'birdy', name: 'Birdy', jwks: { keys: [keys.publicJwk as Record<string, unknown>] } };
}

export async function hub(cfg: Partial<MockHubConfigInput> = {}): Promise<MockHub> {
  return startMockHub({ listen: { host: '127.0.0.1', port: 0 }, admin_token: ADMIN, ...cfg }, { logger: silent });
}

/**
 * A hub trusting provider birdy with fresh keys, started with `cfg` (a function of the keys where
 * it needs them): its `providers` come after birdy.
 */
export async function birdyHub(cfg: Partial<MockHubConfigInput> | ((keys: ProviderKeys) => Partial<MockHubConfigInput>) = {}): Promise<{ h: MockHub; keys: ProviderKeys }> {
  const keys = await providerKeys();
  const c = typeof cfg === 'function' ? cfg(keys) : cfg;
  const h = await hub({ ...c, providers: [birdy(keys), ...(c.providers ?? [])] });
  return { h, keys };
}

/** birdyHub with provider user alice@birdy.interop on it, a party (enlisted). */
export async function birdyHubWithAlice(cfg: Parameters<typeof birdyHub>[0] = {}): Promise<{ h: MockHub; keys: ProviderKeys; alice: Party }> {
  const { h, keys } = await birdyHub(cfg);
  return { h, keys, alice: await party(h, keys, 'alice@birdy.interop') };
}

export async function control(h: MockHub, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${h.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** A raw HIP/1 connection for tests. */
export class RawClient {
  readonly ws: WebSocket;
  readonly received: Stanza[] = [];
  readonly frames: string[] = [];
  closeCode: number | undefined;
  readonly #waiters: Array<{ pred: (s: Stanza) => boolean; resolve: (s: Stanza) => void }> = [];
  readonly closed: Promise<number>;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      const frame = String(data);
      this.frames.push(frame);
      const s = parseStanza(frame);
      this.received.push(s);
      for (const w of [...this.#waiters]) {
        if (w.pred(s)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(s);
        }
      }
    });
    this.closed = new Promise((resolve) => ws.on('close', (code) => {
      this.closeCode = code;
      resolve(code);
    }));
  }

  static connect(url: string, protocols: string[] = ['hip.1']): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols);
      const c = new RawClient(ws);
      ws.once('open', () => resolve(c));
      ws.once('error', reject);
    });
  }

  /** Connects and opens a session; resolves after `<opened>`. */
  static async open(h: MockHub, keys: ProviderKeys, user: string): Promise<RawClient> {
    const c = await RawClient.connect(h.wsUrl);
    c.send({ kind: 'open', user, token: await token(keys, { sub: user }) });
    const first = await c.wait((s) => s.kind === 'opened' || s.kind === 'failure');
    if (first.kind !== 'opened') throw new Error(`open failed: ${JSON.stringify(first)}`);
    return c;
  }

  send(s: Stanza): void {
    this.ws.send(buildStanza(s));
  }

  sendRaw(frame: string | Buffer, binary = false): void {
    this.ws.send(frame, { binary });
  }

  /** The first stanza (already received or coming) matching `pred`. */
  wait(pred: (s: Stanza) => boolean, timeoutMs = 5000): Promise<Stanza> {
    const hit = this.received.find(pred);
    if (hit !== undefined) {
      this.received.splice(this.received.indexOf(hit), 1);
      return Promise.resolve(hit);
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for a stanza')), timeoutMs);
      this.#waiters.push({ pred, resolve: (s) => {
        clearTimeout(t);
        this.received.splice(this.received.indexOf(s), 1);
        resolve(s);
      } });
    });
  }

  async iq(type: 'get' | 'set', query: IqQuery): Promise<IqStanza> {
    const id = newId();
    this.send({ kind: 'iq', id, type, query });
    return (await this.wait((s) => s.kind === 'iq' && s.id === id)) as IqStanza;
  }

  close(): void {
    this.ws.close();
  }
}

export const nowS = (): number => Math.floor(Date.now() / 1000);

/** A provider user with a real device, a session, uploaded keys and (by default) enlisted. */
export interface Party {
  jid: string;
  device: SimDevice;
  c: RawClient;
}

export async function party(h: MockHub, keys: ProviderKeys, jid: string, opts: { enlist?: boolean; oneTimePreKeys?: number } = {}): Promise<Party> {
  const device = await SimDevice.create(deviceAddress(jid, 1), { oneTimePreKeys: opts.oneTimePreKeys ?? 20, oneTimeKyberPreKeys: opts.oneTimePreKeys ?? 20 });
  const c = await RawClient.open(h, keys, jid);
  const up = await c.iq('set', device.uploadPayload());
  if (up.type !== 'result') throw new Error('upload failed');
  if (opts.enlist !== false) {
    const en = await c.iq('set', { xmlns: 'interop', op: 'enlist' });
    if (en.type !== 'result') throw new Error('enlist failed');
  }
  return { jid, device, c };
}

/** Fetches bundles where needed and encrypts one content for every listed device of a hub user. */
export async function encryptForDevices(p: Party, devices: string[], content: Content): Promise<OutgoingMessage['participants']> {
  const need = [];
  for (const d of devices) if (!(await p.device.hasSession(d))) need.push(d);
  if (need.length > 0) {
    const r = await p.c.iq('get', { xmlns: 'encrypt', op: 'fetch', jids: need });
    if (r.type !== 'result' || r.result.op !== 'bundles') throw new Error('fetch failed');
    for (const u of r.result.users) if ('bundle' in u) await p.device.startSession(u.jid, u.bundle);
  }
  const plain = encodeContent(content);
  const out: OutgoingMessage['participants'] = [];
  for (const jid of devices) {
    const e = await p.device.encrypt(jid, plain);
    out.push({ jid, enc: { v: 1, type: e.type, ciphertext: e.ciphertext } });
  }
  return out;
}

/** Sends a text message to a hub user's devices and returns the hub's ack. */
export async function sendText(p: Party, to: string, devices: number[], text: string, id: string = newId()): Promise<AckStanza> {
  const jids = devices.map((n) => deviceAddress(to, n));
  const t = nowS();
  const participants = await encryptForDevices(p, jids, { id, t, text });
  p.c.send({ kind: 'message', id, to, type: 'text', t, dhash: computeDhash(jids), participants });
  return (await p.c.wait((s) => s.kind === 'ack' && s.class === 'message' && s.id === id)) as AckStanza;
}

export async function until<T>(f: () => Promise<T | undefined> | T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function inbox(h: MockHub, jid: string): Promise<Array<Record<string, unknown>>> {
  return (await control(h, 'GET', `/control/users/${jid}/inbox`)).json['messages'] as Array<Record<string, unknown>>;
}
