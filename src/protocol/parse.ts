// parseStanza: one WebSocket text frame → one typed Stanza (spec 2–8). Pure; throws only
// ProtocolError: too-large (checked on the UTF-8 length before any parsing), not-well-formed,
// forbidden-construct, unrecognized-stanza or bad-request — with .root and .id filled whenever
// they could be read, so the hub can answer `<ack class=ROOT id=ID error=400 …/>` (spec 3).
import { parseAck, parseReceipt } from './codec-receipt.ts';
import { parseIq } from './codec-iq.ts';
import { parseMessage } from './codec-message.ts';
import { parseNotification } from './codec-notification.ts';
import { parseChatstate, parseClose, parseFailure, parseOpen, parseOpened } from './codec-session.ts';
import { MAX_FRAME_BYTES, ProtocolError } from './errors.ts';
import { isValidId } from './ids.ts';
import { Reader } from './read.ts';
import type { Stanza } from './types.ts';
import { parseXml } from './xml.ts';
import type { XmlElement } from './xml.ts';

export interface ParseOptions {
  /** Frame limit in UTF-8 bytes (default MAX_FRAME_BYTES, 256 KiB, spec 2). */
  maxBytes?: number;
}

type RootParser = (r: Reader, e: XmlElement) => Stanza;

const ROOTS: ReadonlyMap<string, RootParser> = new Map<string, RootParser>([
  ['open', parseOpen],
  ['opened', parseOpened],
  ['failure', parseFailure],
  ['close', parseClose],
  ['message', parseMessage],
  ['ack', parseAck],
  ['receipt', parseReceipt],
  ['iq', parseIq],
  ['notification', parseNotification],
  ['chatstate', parseChatstate],
]);

export function parseStanza(frame: string, opts: ParseOptions = {}): Stanza {
  try {
    const max = opts.maxBytes;
    // A missing or nonsensical limit (NaN, negative, Infinity) falls back to the spec's 256 KiB.
    return parseFrame(frame, typeof max === 'number' && Number.isSafeInteger(max) && max >= 0 ? max : MAX_FRAME_BYTES);
  } catch (e) {
    if (e instanceof ProtocolError) throw e;
    // A bug anywhere below must still surface as the one error type callers handle (never crash a session).
    throw new ProtocolError('not-well-formed', `internal parser error: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function parseFrame(frame: string, maxBytes: number): Stanza {
  if (typeof frame !== 'string') throw new ProtocolError('not-well-formed', 'frame is not a string');
  const { root } = parseXml(frame, maxBytes);
  const rawId = root.attrs.get('id');
  const id = rawId !== undefined && isValidId(rawId) ? rawId : undefined;
  const parse = ROOTS.get(root.name);
  if (parse === undefined) throw new ProtocolError('unrecognized-stanza', `unknown stanza <${root.name.slice(0, 64)}>`, { root: root.name, id });
  try {
    return parse(new Reader('bad-request', root.name, id), root);
  } catch (e) {
    if (e instanceof ProtocolError) throw e;
    throw new ProtocolError('bad-request', `internal parser error: ${e instanceof Error ? e.message : String(e)}`, { root: root.name, id });
  }
}
