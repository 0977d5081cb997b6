// What the parts of the reference client share: the current connection, the Signal device, the
// counters and events that tests assert on, and typed iq helpers. Reference client for tests,
// demos and providers' CI — not the sidecar.
import type {
  AckStanza, DeviceList, IqQuery, IqResultPayload, KeyBundle, NotificationStanza, ReceiptStanza, StanzaErrorBody,
} from '../../protocol/index.ts';
import type { SimDevice } from '../sim-device.ts';
import type { HipConnection } from './connection.ts';

/** An iq answered with `type="error"` (spec 7), or with an unexpected payload. */
export class HipIqError extends Error {
  override readonly name = 'HipIqError';
  readonly op: IqQuery['op'];
  readonly code: number;
  readonly reason: string;
  constructor(op: IqQuery['op'], error: StanzaErrorBody) {
    super(`iq ${op} failed: ${error.code} ${error.reason}`);
    this.op = op;
    this.code = error.code;
    this.reason = error.reason;
  }
}

/** The hub answered a stanza with an error ack (spec 4 error table). */
export class HipAckError extends Error {
  override readonly name = 'HipAckError';
  readonly ack: AckStanza;
  constructor(ack: AckStanza) {
    super(`${ack.class} ${ack.id ?? ''} refused: ${ack.error ?? '?'} ${ack.reason ?? ''}`);
    this.ack = ack;
  }
}

/** The hub answered `<open>` with `<failure>` (spec 2), or the session is not open. */
export class HipSessionError extends Error {
  override readonly name = 'HipSessionError';
  readonly reason: string;
  readonly closeCode: number | undefined;
  constructor(reason: string, closeCode?: number) {
    super(`HIP session refused: ${reason}${closeCode === undefined ? '' : ` (close ${closeCode})`}`);
    this.reason = reason;
    this.closeCode = closeCode;
  }
}

/** Counters a test can assert on. */
export interface ClientStats {
  /** 409 stale-devices answers that made the client re-encrypt with the same id (spec 4). */
  staleDevices: number;
  /** Retry receipts this client sent for undecryptable messages (spec 6.2). */
  retriesSent: number;
  /** Retry receipts from the hub's devices that this client answered with a resend. */
  retriesAnswered: number;
  undecryptable: number;
  /** Messages whose content id differed from the stanza's: acked and dropped (spec 5, 11). */
  droppedMismatchedId: number;
  /** Redelivered messages already seen (deduplicated by from + id, spec 5). */
  duplicates: number;
  /** Identity notifications (spec 8): "safety number changed". */
  safetyNumberChanges: number;
}

export type ClientEvent =
  | { type: 'stale-devices'; id: string; to: string; devices: DeviceList | undefined }
  | { type: 'retry-sent'; id: string; from: string; participant: string; count: number; error: string }
  | { type: 'retry-answered'; id: string; to: string; participant: string; count: number }
  | { type: 'dropped'; id: string; from: string; why: 'mismatched-id' | 'duplicate' | 'retries-exhausted' }
  | { type: 'receipt'; receipt: ReceiptStanza }
  | { type: 'notification'; notification: NotificationStanza }
  | { type: 'error'; error: Error };

export interface ClientContext {
  readonly device: SimDevice;
  readonly followDeviceNotifications: boolean;
  /** The open connection; throws HipSessionError when there is none. */
  conn(): HipConnection;
  readonly stats: ClientStats;
  emit(e: ClientEvent): void;
  /** Device addresses this client holds sessions with, per user (for identity notifications). */
  readonly peers: Map<string, Set<string>>;
}

export function newStats(): ClientStats {
  return { staleDevices: 0, retriesSent: 0, retriesAnswered: 0, undecryptable: 0, droppedMismatchedId: 0, duplicates: 0, safetyNumberChanges: 0 };
}

/** Sends an iq and returns its payload if it has the expected op; throws HipIqError otherwise. */
export async function iqResult<O extends IqResultPayload['op']>(ctx: ClientContext, query: IqQuery, op: O, timeoutMs?: number): Promise<Extract<IqResultPayload, { op: O }>> {
  const answer = await ctx.conn().iq(query, timeoutMs);
  if (answer.type === 'error') throw new HipIqError(query.op, answer.error);
  if (answer.result.op !== op) throw new HipIqError(query.op, { code: 0, reason: `unexpected result ${answer.result.op}` });
  return answer.result as Extract<IqResultPayload, { op: O }>;
}

/** Fetches bundles (spec 7.2) and starts a session with each device; throws if any is missing. */
export async function startSessions(ctx: ClientContext, user: string, jids: string[], keys?: Map<string, KeyBundle>): Promise<void> {
  const need = jids.filter((j) => keys?.get(j) === undefined);
  const fetched = need.length === 0 ? [] : (await iqResult(ctx, { xmlns: 'encrypt', op: 'fetch', jids: need }, 'bundles')).users;
  const bundles = new Map(keys);
  for (const u of fetched) {
    if ('error' in u) throw new HipIqError('fetch', { code: u.error.code, reason: `${u.jid}: ${u.error.reason}` });
    bundles.set(u.jid, u.bundle);
  }
  for (const jid of jids) {
    const b = bundles.get(jid);
    if (b === undefined) throw new HipIqError('fetch', { code: 404, reason: `${jid}: no bundle in the answer` });
    await ctx.device.startSession(jid, b);
    rememberPeer(ctx, user, jid);
  }
}

export function rememberPeer(ctx: ClientContext, user: string, device: string): void {
  let set = ctx.peers.get(user);
  if (set === undefined) ctx.peers.set(user, (set = new Set()));
  set.add(device);
}
