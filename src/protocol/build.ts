// buildStanza: a typed Stanza → one XML frame. Names are literals of this codebase; every value is
// validated (ids, addresses, integers, tokens, XML-legal text) and escaped, so data can never add
// structure. Invalid input throws ProtocolError('bad-request'). Pure.
import { buildAck, buildReceipt } from './codec-receipt.ts';
import { buildIq } from './codec-iq.ts';
import { buildMessage } from './codec-message.ts';
import { buildNotification } from './codec-notification.ts';
import { buildChatstate, buildClose, buildFailure, buildOpen, buildOpened } from './codec-session.ts';
import { ProtocolError } from './errors.ts';
import type { Stanza } from './types.ts';
import { Writer } from './write.ts';

function build(w: Writer, s: Stanza): string {
  switch (s.kind) {
    case 'open': return buildOpen(w, s);
    case 'opened': return buildOpened(w, s);
    case 'failure': return buildFailure(w, s);
    case 'close': return buildClose(w, s);
    case 'message': return buildMessage(w, s);
    case 'ack': return buildAck(w, s);
    case 'receipt': return buildReceipt(w, s);
    case 'iq': return buildIq(w, s);
    case 'notification': return buildNotification(w, s);
    case 'chatstate': return buildChatstate(w, s);
    default: return w.fail(`unknown stanza kind ${String((s as { kind: unknown }).kind)}`);
  }
}

export function buildStanza(stanza: Stanza): string {
  const w = new Writer('bad-request');
  if (typeof stanza !== 'object' || stanza === null) w.fail('stanza must be an object');
  try {
    return build(w, stanza);
  } catch (e) {
    if (e instanceof ProtocolError) throw e;
    // Malformed input objects (a missing nested field…) surface as bad-request, never as a TypeError.
    throw new ProtocolError('bad-request', `invalid stanza: ${e instanceof Error ? e.message : String(e)}`);
  }
}
