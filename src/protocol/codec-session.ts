// Session stanzas (spec 2) and chat state, both directions: open, opened, failure, close, chatstate.
// Decisions (docs/protocol-notes.md): `open/@token` is any string (the hub's JWT check judges it, so a
// bad token gets `not-authorized`, not a parse error); `opened/@session` is 1–128 URL-safe characters;
// a chatstate carries exactly one of `to`/`from`, plus `participant` when it comes from the hub.
import { DEVICE_KINDS, USER_KINDS } from './address.ts';
import { isSessionId } from './fields.ts';
import type { Reader } from './read.ts';
import type { ChatstateStanza, CloseStanza, FailureReason, FailureStanza, OpenedStanza, OpenStanza } from './types.ts';
import { el } from './write.ts';
import type { Writer } from './write.ts';
import type { XmlElement } from './xml.ts';

export const FAILURE_REASONS: readonly FailureReason[] = ['not-authorized', 'unknown-provider', 'delisted', 'conflict'];
const CHAT_STATES: readonly ChatstateStanza['state'][] = ['composing', 'paused'];

export function parseOpen(r: Reader, e: XmlElement): OpenStanza {
  return { kind: 'open', user: r.reqAddr(e, 'user', ['provider-user']), token: r.req(e, 'token') };
}

export function buildOpen(w: Writer, s: OpenStanza): string {
  return el('open', [['user', w.addr(s.user, ['provider-user'], 'open/@user')], ['token', w.text(s.token, 'open/@token')]]);
}

export function parseOpened(r: Reader, e: XmlElement): OpenedStanza {
  return { kind: 'opened', session: r.reqCheck(e, 'session', isSessionId), t: r.reqUint(e, 't') };
}

export function buildOpened(w: Writer, s: OpenedStanza): string {
  return el('opened', [['session', w.valid(s.session, isSessionId, 'opened/@session')], ['t', w.uint(s.t, 'opened/@t')]]);
}

export function parseFailure(r: Reader, e: XmlElement): FailureStanza {
  return { kind: 'failure', reason: r.reqOneOf(e, 'reason', FAILURE_REASONS) };
}

export function buildFailure(w: Writer, s: FailureStanza): string {
  return el('failure', [['reason', w.oneOf(s.reason, FAILURE_REASONS, 'failure/@reason')]]);
}

export function parseClose(_r: Reader, e: XmlElement): CloseStanza {
  const reason = e.attrs.get('reason');
  return reason === undefined ? { kind: 'close' } : { kind: 'close', reason };
}

export function buildClose(w: Writer, s: CloseStanza): string {
  return el('close', [['reason', w.optText(s.reason, 'close/@reason')]]);
}

export function parseChatstate(r: Reader, e: XmlElement): ChatstateStanza {
  const to = r.addr(e, 'to', USER_KINDS);
  const from = r.addr(e, 'from', USER_KINDS);
  if ((to === undefined) === (from === undefined)) r.fail('chatstate needs exactly one of to and from');
  const participant = r.addr(e, 'participant', DEVICE_KINDS);
  const out: ChatstateStanza = { kind: 'chatstate', state: r.reqOneOf(e, 'state', CHAT_STATES) };
  if (to !== undefined) out.to = to;
  if (from !== undefined) out.from = from;
  if (participant !== undefined) out.participant = participant;
  return out;
}

export function buildChatstate(w: Writer, s: ChatstateStanza): string {
  w.need((s.to === undefined) !== (s.from === undefined), 'chatstate needs exactly one of to and from');
  return el('chatstate', [
    ['to', w.optAddr(s.to, USER_KINDS, 'chatstate/@to')],
    ['from', w.optAddr(s.from, USER_KINDS, 'chatstate/@from')],
    ['participant', w.optAddr(s.participant, DEVICE_KINDS, 'chatstate/@participant')],
    ['state', w.oneOf(s.state, CHAT_STATES, 'chatstate/@state')],
  ]);
}
