// Mapping Matrix message content to what the hub carries (spec 11: plain text, media, a reply
// reference, fallbacks) and back. Pure. Formatting is reduced to the plain-text conventions hub
// clients render (*bold*, _italic_, ~strike~, `code`, ```blocks```, "> " quotes, links as
// "text (url)"); Matrix events the hub does not carry are classified by the feature name the
// downgrade policy knows (spec 11's list) with a readable fallback text.
import type { Json } from './matrix-api.ts';

export type Classified =
  | { kind: 'text'; text: string; replyTo?: string }
  | { kind: 'media'; msgtype: string; mediaKind: 'image' | 'video' | 'audio' | 'voice' | 'document'; content: Json; replyTo?: string }
  /** `data` absent: no structured form (the bridge's `fallback` text is all there is). */
  | { kind: 'feature'; feature: string; fallback: string; data?: Json; target?: string; sticker?: Json }
  | { kind: 'ignore' };

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === '#') {
      const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(cp) && cp >= 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
    }
    return ENTITIES[e.toLowerCase()] ?? m;
  });
}

/** Reduces Matrix `org.matrix.custom.html` to hub plain text. */
export function htmlToHubText(html: string): string {
  let s = html.replace(/<mx-reply>[\s\S]*?<\/mx-reply>/gi, '');
  s = s.replace(/<pre[^>]*>\s*<code[^>]*>([\s\S]*?)<\/code>\s*<\/pre>/gi, (_m, c: string) => `\n\`\`\`\n${c.replace(/\n$/, '')}\n\`\`\`\n`);
  s = s.replace(/<(strong|b)>([\s\S]*?)<\/\1>/gi, '*$2*');
  s = s.replace(/<(em|i)>([\s\S]*?)<\/\1>/gi, '_$2_');
  s = s.replace(/<(del|s|strike)>([\s\S]*?)<\/\1>/gi, '~$2~');
  s = s.replace(/<code>([\s\S]*?)<\/code>/gi, '`$1`');
  s = s.replace(/<a\s[^>]*href="([^"]*)"[^>]*>([\s\S]*?)<\/a>/gi, (_m, href: string, text: string) => {
    const t = text.replace(/<[^>]+>/g, '');
    return decodeEntities(t) === decodeEntities(href) || href.startsWith('https://matrix.to/') ? t : `${t} (${href})`;
  });
  s = s.replace(/<blockquote>([\s\S]*?)<\/blockquote>/gi, (_m, q: string) =>
    `${q.replace(/<[^>]+>/g, '').trim().split('\n').map((l) => `> ${l}`).join('\n')}\n`,
  );
  s = s.replace(/<li>([\s\S]*?)<\/li>/gi, '- $1\n');
  s = s.replace(/<br\s*\/?>/gi, '\n').replace(/<\/p>\s*<p>/gi, '\n\n').replace(/<\/?(p|ul|ol|div|h[1-6])[^>]*>/gi, '\n');
  s = s.replace(/<[^>]+>/g, '');
  return decodeEntities(s).replace(/\n{3,}/g, '\n\n').trim();
}

/** Drops the "> <@user> quoted" fallback lines a Matrix reply body starts with. */
function stripReplyFallback(body: string): string {
  const lines = body.split('\n');
  let i = 0;
  while (i < lines.length && (lines[i] as string).startsWith('> ')) i++;
  return i > 0 && lines[i] === '' ? lines.slice(i + 1).join('\n') : body;
}

/** Extensible-events text (MSC1767): a string, or `[{ body, mimetype? }]`, under either name. */
function textOf(x: Json): string {
  const v = x['m.text'] ?? x['org.matrix.msc1767.text'] ?? x.body;
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return String(((v as Json[]).find((t) => t.mimetype === undefined || t.mimetype === 'text/plain') ?? v[0] ?? {}).body ?? '');
  return '';
}

const MEDIA: Record<string, 'image' | 'video' | 'audio' | 'document'> = { 'm.image': 'image', 'm.video': 'video', 'm.audio': 'audio', 'm.file': 'document' };

/** The plain text of a message content (HTML reduced), or undefined when it has none. */
function plainOf(c: Json): string | undefined {
  if (c.format === 'org.matrix.custom.html' && typeof c.formatted_body === 'string') return htmlToHubText(c.formatted_body);
  return typeof c.body === 'string' ? c.body : undefined;
}

/**
 * Classifies a (decrypted) room event from a Matrix user in a portal. A feature's `data` is the
 * payload src/policy reads (`OutboundMessage.feature`), with `target` the Matrix event it refers
 * to (the caller maps it to a hub message id); `fallback` is the bridge's own text for when there
 * is no such payload (an unmapped target, an unreadable geo URI).
 */
export function classify(type: string, content: Json): Classified {
  const rel = (content['m.relates_to'] ?? {}) as Json;
  const relTarget = typeof rel.event_id === 'string' ? rel.event_id : undefined;
  if (type === 'm.reaction') {
    const key = typeof rel.key === 'string' ? rel.key : '?';
    return { kind: 'feature', feature: 'reaction', fallback: `Reacted ${key}`, data: { emoji: key }, ...(relTarget ? { target: relTarget } : {}) };
  }
  if (type === 'm.room.redaction') {
    const redacts = typeof content.redacts === 'string' ? content.redacts : undefined;
    return { kind: 'feature', feature: 'delete', fallback: 'Deleted a message', data: { for_everyone: true }, ...(redacts ? { target: redacts } : {}) };
  }
  if (type === 'm.sticker') {
    const info = (content.info ?? {}) as Json;
    const body = typeof content.body === 'string' && content.body.trim() !== '' ? content.body : undefined;
    return {
      kind: 'feature', feature: 'sticker', fallback: `Sticker: ${body ?? ''}`.trim(),
      data: { mime: typeof info.mimetype === 'string' ? info.mimetype : 'image/png' }, sticker: content,
    };
  }
  if (type === 'm.poll.start' || type === 'org.matrix.msc3381.poll.start') {
    const poll = (content['m.poll'] ?? content['org.matrix.msc3381.poll.start'] ?? {}) as Json;
    const q = (poll.question ?? {}) as Json;
    const question = textOf(q) || 'Poll';
    const answers = (Array.isArray(poll.answers) ? poll.answers : []) as Json[];
    const options = answers.map(textOf);
    const max = typeof poll.max_selections === 'number' ? poll.max_selections : 1;
    return { kind: 'feature', feature: 'poll', fallback: `Poll: ${question}\n${options.map((o) => `- ${o}`).join('\n')}`, data: { question, options, ...(max > 1 ? { multiple: true } : {}) } };
  }
  if (type !== 'm.room.message') return { kind: 'ignore' };
  if (rel.rel_type === 'm.replace') {
    const nc = (content['m.new_content'] ?? {}) as Json;
    const text = plainOf(nc) ?? String(content.body ?? '').replace(/^\* /, '');
    return { kind: 'feature', feature: 'edit', fallback: `Edited: ${text}`, data: { text }, ...(relTarget ? { target: relTarget } : {}) };
  }
  const replyTo = typeof (rel['m.in_reply_to'] as Json | undefined)?.event_id === 'string' ? ((rel['m.in_reply_to'] as Json).event_id as string) : undefined;
  const msgtype = content.msgtype;
  if (msgtype === 'm.location') {
    const geo = String(content.geo_uri ?? '');
    const m = /^geo:(-?[0-9]+(?:\.[0-9]+)?),(-?[0-9]+(?:\.[0-9]+)?)(?:[,;]|$)/.exec(geo);
    const lat = m ? Number(m[1]) : NaN;
    const lon = m ? Number(m[2]) : NaN;
    const name = typeof content.body === 'string' && content.body.trim() !== '' && !content.body.startsWith('geo:') ? content.body.trim() : undefined;
    const fallback = `Location: ${String(content.body ?? geo)}`;
    // An unreadable or out-of-range geo URI has no structured form: the bridge's text goes instead.
    if (!(Math.abs(lat) <= 90 && Math.abs(lon) <= 180)) return { kind: 'feature', feature: 'location', fallback };
    return { kind: 'feature', feature: 'location', fallback, data: { latitude: lat, longitude: lon, ...(name ? { name: name.slice(0, 1024) } : {}) } };
  }
  if (typeof msgtype === 'string' && msgtype in MEDIA) {
    const voice = msgtype === 'm.audio' && (content['org.matrix.msc3245.voice'] !== undefined || content['m.voice'] !== undefined);
    return { kind: 'media', msgtype, mediaKind: voice ? 'voice' : (MEDIA[msgtype] as 'image'), content, ...(replyTo ? { replyTo } : {}) };
  }
  if (msgtype === 'm.text' || msgtype === 'm.notice' || msgtype === 'm.emote') {
    let text = plainOf(content) ?? '';
    if (replyTo && content.format !== 'org.matrix.custom.html') text = stripReplyFallback(text);
    if (msgtype === 'm.emote') text = `* ${text}`;
    if (text.length === 0) return { kind: 'ignore' };
    return { kind: 'text', text, ...(replyTo ? { replyTo } : {}) };
  }
  return { kind: 'ignore' };
}
