// The mock hub's core: builds every part (all state in memory — it is a mock), implements the
// HubContext the handlers use, the session hooks (authentication, dispatch of client stanzas,
// mailbox attach/detach) and shutdown. HTTP and WebSocket plumbing live in server.ts.
import type { Logger } from 'pino';
import { ACK_ERRORS, parseAddress } from '../protocol/index.ts';
import type { AckStanza, KeyBundle, OpenStanza, Stanza } from '../protocol/index.ts';
import { Authenticator } from './auth.ts';
import type { MockHubConfig, MockHubProviderConfig, MockHubUserConfig } from './config.ts';
import type { HubContext } from './context.ts';
import { Directory } from './directory.ts';
import type { HubUser, Provider } from './directory.ts';
import { Faults } from './faults.ts';
import { IdempotenceStore } from './idempotence.ts';
import { handleIq } from './iq.ts';
import { MediaStore } from './media.ts';
import { notifyLowPrekeys } from './notify.ts';
import { Mailboxes } from './offline.ts';
import { PreKeyDirectory } from './prekeys.ts';
import { Pusher } from './push.ts';
import { handleReceipt } from './receipts.ts';
import { routeMessage } from './router.ts';
import type { Sender } from './router.ts';
import type { OpenResult, Session, SessionHooks } from './session.ts';
import { SessionRegistry } from './sessions.ts';
import { SimUsers } from './sim-users.ts';
import { newCounters } from './stats.ts';
import { Timers } from './timers.ts';

const DAY_MS = 86_400_000;

export class HubCore implements HubContext {
  readonly config: MockHubConfig;
  readonly log: Logger;
  readonly timers = new Timers();
  readonly counters = newCounters();
  readonly directory = new Directory();
  readonly prekeys = new PreKeyDirectory();
  readonly idempotence: IdempotenceStore;
  readonly mailboxes: Mailboxes;
  readonly faults: Faults;
  readonly sim: SimUsers;
  readonly media = new MediaStore();
  readonly pusher: Pusher;
  readonly sessions = new SessionRegistry();
  readonly auth: Authenticator;
  readonly #abort = new AbortController();
  /** Set once the server listens: where media URLs point. */
  baseUrl = '';

  constructor(config: MockHubConfig, log: Logger) {
    this.config = config;
    this.log = log;
    const limits = config.limits;
    this.idempotence = new IdempotenceStore(limits.idempotence_days * DAY_MS);
    this.faults = new Faults(this.timers);
    this.auth = new Authenticator(config.hub_id);
    this.sessions.onReplaced = () => { this.counters.sessions_replaced += 1; };
    this.pusher = new Pusher({
      timers: this.timers, retryForMs: limits.push_retry_for_s * 1000, logger: log,
      onSent: () => { this.counters.pushes_sent += 1; },
    });
    this.mailboxes = new Mailboxes({
      retentionMs: limits.offline_retention_days * DAY_MS,
      onStored: (user) => {
        this.counters.offline_stored += 1;
        this.#push(user);
      },
      onAcked: (_user, s) => {
        if (s.kind === 'message') this.counters.messages_delivered += 1;
      },
    });
    this.sim = new SimUsers({
      directory: this.directory, timers: this.timers, logger: log, media: this.media,
      mediaUrl: (token) => `${this.baseUrl}/media/${token}`,
      maxMediaBytes: (kind) => config.features.max_size[kind],
      signal: this.#abort.signal, counters: this.counters, decryptSampleRate: config.simulation.decrypt_sample_rate,
      maxFrameBytes: limits.max_frame_bytes,
      toProvider: (user, s) => this.routeToProvider(user, s),
      providerBundle: (hubUser, providerUser) => this.providerBundle(hubUser, providerUser),
    });
  }

  /** Providers and users of the configuration. */
  async init(): Promise<void> {
    for (const p of this.config.providers) this.addProvider(p);
    for (const u of this.config.users) await this.addHubUser(u);
  }

  addProvider(p: MockHubProviderConfig): Provider {
    return this.directory.addProvider({
      id: p.id, name: p.name,
      ...(p.jwks === undefined ? {} : { jwks: p.jwks }),
      ...(p.jwks_url === undefined ? {} : { jwksUrl: p.jwks_url }),
      ...(p.push_url === undefined ? {} : { pushUrl: p.push_url }),
      ...(p.push_secret === undefined ? {} : { pushSecret: p.push_secret }),
    });
  }

  addHubUser(u: MockHubUserConfig): Promise<HubUser> {
    return this.sim.createUser({
      digits: u.phone.replace(/^\+/, ''), devices: u.devices, thirdParty: { ...u.third_party, providers: [...u.third_party.providers] },
      script: { ...u.script }, ...(u.name === undefined ? {} : { name: u.name }),
    });
  }

  toProvider(user: string, stanza: Stanza): void {
    if (this.timers.closed) return;
    this.mailboxes.enqueue(user, stanza);
  }

  routeToProvider(user: string, stanza: Stanza): void {
    this.faults.route(() => {
      // Spec 10: a provider user is reachable only while enlisted. What a simulated user sends
      // late (a read receipt after the script's delay, a retry receipt or resend, a delivery held
      // by a fault) to one who delisted meanwhile is dropped, not stored and pushed. Notifications
      // (spec 8: `providers` goes to users who are not enlisted) do not come this way.
      if (this.directory.reachableProviderUser(user) === undefined) return;
      this.toProvider(user, stanza);
    });
  }

  providerBundle(hubUser: string, providerUser: string): KeyBundle | undefined {
    const b = this.prekeys.takeBundle(providerUser);
    if (b === undefined) return undefined;
    this.directory.addContact(hubUser, providerUser);
    notifyLowPrekeys(this, providerUser);
    return b;
  }

  /** Hooks for server.ts's Session objects. */
  readonly hooks: Omit<SessionHooks, 'limits' | 'timers' | 'log'> = {
    authenticate: (open) => this.#authenticate(open),
    opened: (s) => {
      this.sessions.add(s);
      this.mailboxes.attach(s.user, s);
    },
    stanza: (s, st) => this.#dispatch(s, st),
    tick: (s) => {
      if (this.sessions.get(s.user) === s) this.mailboxes.redeliver(s.user, this.config.limits.redeliver_after_s * 1000);
    },
    closed: (s) => {
      this.sessions.remove(s);
      this.mailboxes.detach(s.user, s);
    },
  };

  async close(): Promise<void> {
    this.timers.close();
    this.faults.discard();
    this.pusher.close();
    this.auth.close();
    this.#abort.abort();
    for (const s of this.sessions.all()) s.terminate();
  }

  async #authenticate(open: OpenStanza): Promise<OpenResult> {
    const a = parseAddress(open.user);
    if (a?.kind !== 'provider-user') return { ok: false, reason: 'not-authorized' };
    const p = this.directory.provider(a.provider);
    if (p === undefined) return { ok: false, reason: 'unknown-provider' };
    if (p.delisted) return { ok: false, reason: 'delisted' };
    const r = await this.auth.verify(open.user, p, open.token);
    if (!r.ok) {
      this.log.info({ user: open.user, why: r.why }, 'session refused');
      return { ok: false, reason: 'not-authorized' };
    }
    if (p.delisted) return { ok: false, reason: 'delisted' };
    this.directory.ensureProviderUser(open.user, p.id);
    return { ok: true, user: open.user, provider: p.id };
  }

  #dispatch(s: Session, st: Stanza): void {
    const sender: Sender = { jid: s.user, provider: s.provider };
    switch (st.kind) {
      case 'message':
      case 'receipt': {
        const ack = (a: AckStanza): void => this.#sendAck(s, a);
        const injected = this.faults.injectedError();
        if (injected !== undefined) {
          const a: AckStanza = { kind: 'ack', class: st.kind, id: st.id, error: injected.code, reason: injected.reason };
          if (injected.retryAfter !== undefined) a.retryAfter = injected.retryAfter;
          if (st.kind === 'receipt') Object.assign(a, receiptAckFields(st));
          return ack(a);
        }
        if (st.kind === 'message') return routeMessage(this, sender, st, ack);
        return handleReceipt(this, sender, st, ack);
      }
      case 'ack':
        this.mailboxes.ack(s.user, st);
        return;
      case 'iq':
        if (st.type === 'get' || st.type === 'set') s.send(handleIq(this, sender, st));
        return;
      case 'chatstate':
        // accepted and dropped: the simulated users do not show typing (docs/mock-hub.md)
        return;
      case 'close':
        s.close();
        return;
      default:
        s.send({ kind: 'ack', class: st.kind, ...('id' in st && typeof st.id === 'string' ? { id: st.id } : {}), error: ACK_ERRORS['bad-request'], reason: 'bad-request' });
    }
  }

  /** Acks for messages and receipts, subject to the ack_delay_ms and drop_acks_rate faults. */
  #sendAck(s: Session, a: AckStanza): void {
    if (this.faults.dropAck()) return;
    const delay = this.faults.ackDelayMs();
    if (delay > 0) this.timers.after(delay, () => s.send(a));
    else s.send(a);
  }

  #push(user: string): void {
    const pu = this.directory.providerUser(user);
    const p = pu === undefined ? undefined : this.directory.provider(pu.provider);
    if (p?.pushUrl === undefined || p.pushSecret === undefined || p.delisted) return;
    this.pusher.push(user, { url: p.pushUrl, secret: p.pushSecret.reveal() }, () =>
      this.mailboxes.hasOutlet(user) ? undefined : this.mailboxes.pending(user));
  }
}

function receiptAckFields(r: Extract<Stanza, { kind: 'receipt' }>): Partial<AckStanza> {
  return {
    ...(r.type === 'delivery' ? {} : { type: r.type }),
    ...(r.to === undefined ? {} : { to: r.to }),
    ...(r.participant === undefined ? {} : { participant: r.participant }),
  };
}
