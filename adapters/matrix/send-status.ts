// Send statuses shown to the Matrix user, in the style of Beeper's `com.beeper.message_send_status`
// (as mautrix bridges send it): one event per state change of a message the user sent, related to
// it with `m.reference`, plus an `m.notice` for every failure worded as certain ("was not
// delivered") or uncertain ("may not have been delivered"). Pure.
import type { Json } from './matrix-api.ts';

export const SEND_STATUS = 'com.beeper.message_send_status';

export type SendStatus = 'SUCCESS' | 'PENDING' | 'FAIL_RETRIABLE' | 'FAIL_PERMANENT';

export interface StatusInput {
  eventId: string;
  status: SendStatus;
  /** A stable reason code (`not-opted-in`, `undecryptable`, `unsupported`…). */
  reason?: string;
  message?: string;
  certain?: boolean;
  deliveredTo?: string[];
  downgraded?: Array<{ feature: string; to: string }>;
}

/** Matrix-style reason codes of Beeper's send status. */
function matrixReason(reason: string | undefined): string | undefined {
  if (reason === undefined) return undefined;
  if (reason === 'undecryptable') return 'm.event_not_handled';
  if (reason === 'unsupported' || reason === 'unsupported-in-interop' || reason === 'rejected-by-policy') return 'm.event_unsupported';
  if (reason === 'not-opted-in' || reason === 'blocked' || reason === 'no-such-user') return 'm.foreign_network_error';
  if (reason === 'too-large') return 'm.event_too_large';
  return 'm.foreign_network_error';
}

export function sendStatusContent(s: StatusInput): Json {
  return {
    network: 'hub',
    'm.relates_to': { rel_type: 'm.reference', event_id: s.eventId },
    status: s.status,
    ...(s.reason ? { reason: matrixReason(s.reason), error: s.reason } : {}),
    ...(s.message ? { message: s.message } : {}),
    ...(s.status.startsWith('FAIL') ? { certain: s.certain ?? true } : {}),
    ...(s.deliveredTo ? { delivered_to_users: s.deliveredTo } : {}),
    ...(s.downgraded && s.downgraded.length > 0 ? { 'org.causeway.downgraded': s.downgraded } : {}),
  };
}

/** The notice text of a failure: certain or uncertain wording. */
export function failureNotice(certain: boolean, why: string): string {
  return certain ? `⚠️ Your message was not delivered: ${why}` : `⚠️ Your message may not have been delivered: ${why}. It will not be retried automatically.`;
}
