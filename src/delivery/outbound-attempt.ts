// One delivery attempt of an outbound message on an open hub session, and what its server ack
// means (spec 4's table): 409 re-encrypt for the new devices under the same id, 401 reopen,
// 403 not-enlisted enlist, 406 downgrade and resend once, 429 wait `retry-after` without spending
// an attempt, 5xx back off, other 4xx fail permanently. A stored frame (a lost ack) is resent
// byte for byte (spec 4 idempotence); a new one is stored before its first send.
import { ErrorCode, LibSignalErrorBase } from '@signalapp/libsignal-client';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { MessageStatus } from '../../adapters/contract.ts';
import type { Keyring } from '../crypto/keyring.ts';
import { RedisSignalStore } from '../crypto/redis-signal-store.ts';
import type { SignalEdge } from '../crypto/signal-edge.ts';
import type { HubConnection } from '../hub/connection.ts';
import type { SessionManager } from '../hub/sessions.ts';
import { buildStanza, deviceAddress, type AckStanza } from '../protocol/index.ts';
import type { DeviceDirectory } from './devices.ts';
import { encryptMessage, NoDevicesError } from './encrypt-message.ts';
import type { Outbox, OutboundRecord } from './outbox.ts';

export interface OutboundJob {
  user: string;
  peer: string;
  id: string;
  /** Attempts already spent before this job (in process): the backoff carries on from there. */
  prior?: number;
}

export interface OutboundWorkerOptions {
  redis: Redis;
  prefix: string;
  keyring: Keyring;
  outbox: Outbox;
  devices: DeviceDirectory;
  sessions: SessionManager;
  edge: SignalEdge;
  concurrency: number;
  /** A message the hub could not take for this long fails as expired (hub unreachable). */
  maxQueueAgeMs: number;
  /** How long to wait for the hub's server ack before resending the stored frame. */
  ackTimeoutMs: number;
  maxAttempts: number;
  backoff: { base: number; max: number };
  onStatus: (s: MessageStatus) => void;
  /** The downgrade policy answer to a 406 (spec 4): the record to send again, or a final reason. */
  after406: (r: OutboundRecord, feature: string | undefined) => Promise<{ record: OutboundRecord } | { reason: string; message: string }>;
  /** A contact's identity changed under our feet (untrusted identity while starting a session). */
  identityChanged: (user: string, peer: string) => Promise<'continue' | 'hold'>;
  /** Whether `user` is opted in (a message queued before an opt-out is not sent after it). */
  isEnabled: (user: string) => Promise<boolean>;
  /** Whether messages from `user` to `peer` wait for a safety-number acknowledgement. */
  isHeld: (user: string, peer: string) => Promise<boolean>;
  /** Outcome of each message, for metrics. */
  observe?: (outcome: 'sent' | 'failed', latencyMs: number | undefined) => void;
  logger: Logger;
}

/** Spec 4 401: the session is no longer valid; reopen and retry without spending an attempt. */
export class SessionGone extends Error {
  override readonly name = 'SessionGone';
}

/** Permanent failure with a reason the sender sees (spec 4: 400/403/404/406/413). */
export class PermanentFailure extends Error {
  readonly reason: string;
  /** A sentence for the sender, when it is more precise than the reason's standard one. */
  readonly text: string | undefined;
  /**
   * Whether the message surely did not reach the recipient: not so for `id-reused` (spec 4), by
   * which the hub says it accepted another stanza of ours under this id.
   */
  readonly certain: boolean;
  constructor(reason: string, message: string, text?: string) {
    super(message);
    this.reason = reason;
    this.text = text;
    this.certain = reason !== 'id-reused';
  }
}

export const REASON_TEXT: Record<string, string> = {
  'not-opted-in': 'The recipient cannot be reached from this app (not opted in to third-party chats).',
  'sender-opted-out': 'Third-party chats were turned off for the sender before the message went out.',
  blocked: 'The recipient has blocked this sender.',
  'no-such-user': 'The hub does not know this sender; opt in again.',
  'too-large': 'The message is too large for the hub.',
  'unsupported-in-interop': 'The hub does not carry this kind of message.',
  'bad-request': 'The hub refused the message as malformed.',
  'id-reused': 'The hub refused the message id as reused; an earlier copy of the message may have been delivered.',
  'no-devices': 'The recipient has no devices to deliver to.',
  expired: 'The hub could not be reached in time; the message may not have been delivered.',
};

export interface AttemptCounters {
  staleDevices: number;
  storedFrameResends: number;
  enlisted: number;
  reopened: number;
}

export class OutboundAttempt {
  readonly #o: OutboundWorkerOptions;
  readonly #counters: AttemptCounters;

  constructor(o: OutboundWorkerOptions, counters: AttemptCounters) {
    this.#o = o;
    this.#counters = counters;
  }

  /** One delivery attempt; resolves with a positive ack (or a 429 to wait on), throws otherwise. */
  /** The ack, and the record as finally sent (a 406 may have rewritten it). */
  async run(conn: HubConnection, user: string, record: OutboundRecord, storedFrame: string | undefined): Promise<{ ack: AckStanza; record: OutboundRecord }> {
    let r = record;
    let frame = storedFrame;
    for (let round = 0; round < 4; round++) {
      if (frame === undefined) frame = await this.#build(conn, user, r);
      else this.#counters.storedFrameResends++;
      const ack = await conn.sendMessage({ id: r.id, frame }, this.#o.ackTimeoutMs);
      if (ack.error === undefined || ack.error === 429) return { ack, record: r };
      switch (ack.reason) {
        case 'stale-devices':
          this.#counters.staleDevices++;
          if (ack.devices) await this.#o.devices.set(ack.devices);
          else await this.#o.devices.invalidate(r.peer);
          await this.#o.outbox.dropFrame(user, r.id);
          frame = undefined;
          continue;
        case 'not-enlisted':
          this.#counters.enlisted++;
          await conn.iq({ xmlns: 'interop', op: 'enlist' }, 'set');
          continue;
        case 'unsupported-in-interop': {
          const next = await this.#o.after406(r, ack.unsupported);
          if (!('record' in next)) throw new PermanentFailure(next.reason, `hub refused ${ack.unsupported ?? 'the message'} (406)`, next.message);
          r = next.record;
          await this.#o.outbox.rewrite(r);
          frame = undefined;
          continue;
        }
        case 'not-authorized':
          this.#counters.reopened++;
          this.#o.sessions.close(user);
          throw new SessionGone();
        default:
          if (ack.error >= 500) throw new Error(`hub answered ${ack.error} ${ack.reason ?? ''}`);
          throw new PermanentFailure(ack.reason ?? String(ack.error), `hub refused the message: ${ack.error} ${ack.reason ?? ''}`);
      }
    }
    throw new Error('device list kept changing; will retry');
  }

  async #build(conn: HubConnection, user: string, r: OutboundRecord): Promise<string> {
    const store = new RedisSignalStore(this.#o.redis, this.#o.keyring, this.#o.prefix, user);
    const local = deviceAddress(user, 1);
    try {
      // The stanza is built and stored (spec 4: before its first send) by the Signal unit that
      // makes its last ciphertext, in that unit's COMMIT: no round trip of its own.
      let frame: string | undefined;
      const ours = { kept: false };
      const msg = await encryptMessage(conn, this.#o.edge, store, local, r, await this.#o.devices.get(conn, r.peer), (m) => {
        frame = buildStanza(m);
        return { ...this.#o.outbox.frameWrites(user, r.id, frame), committed: (kept) => void (ours.kept = kept.length > 0) };
      });
      // encryptMessage returns only once the unit that completed the message has run `complete`.
      if (frame === undefined) throw new Error(`message ${msg.id} was encrypted but never completed`);
      if (!ours.kept) return frame;
      // Another holder of the lane (ours lapsed mid-encrypt) stored its frame first and may have
      // sent it: the hub refuses any other body under this id (spec 4), so that one is sent.
      const stored = await this.#o.outbox.storedFrame(user, r.id);
      // Dropped since (that holder's 409 or 406): the id is unused again; encrypt afresh next time.
      if (stored === undefined) throw new Error(`the stored frame of ${r.id} was dropped while it was encrypted again; will retry`);
      this.#counters.storedFrameResends++;
      return stored;
    } catch (err) {
      if (err instanceof NoDevicesError) throw new PermanentFailure('no-devices', err.message);
      if (LibSignalErrorBase.is(err, ErrorCode.UntrustedIdentity)) {
        // The bundle carries an identity other than the one we trusted: the same as the hub's
        // `identity` notification. Continue: retry at once with the new identity; hold: wait.
        const policy = await this.#o.identityChanged(user, r.peer);
        throw new Error(`contact identity changed (${policy}); retrying`, { cause: err });
      }
      const iqErr = err as { code?: number; reason?: string };
      if (iqErr.code === 404) throw new PermanentFailure('not-opted-in', `recipient not reachable: ${iqErr.reason ?? ''}`);
      throw err;
    }
  }

}
