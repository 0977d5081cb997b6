// Converters whose result may carry media (spec 11 `<media>`): sticker, contact, disappearing,
// view-once, status. Pure. A sticker goes as the best form the hub takes (features-cache.ts):
// without a transcoder an animated GIF/WebP stays the original animated image (kind image), a
// WebM/MP4 sticker is a video, a Lottie (TGS) sticker is a document; when no form fits it becomes
// a text. A contact is a vCard document, or text when documents cannot go.
import type { DowngradeOptions } from '../config/policy-schema.ts';
import type { MediaKind } from '../protocol/index.ts';
import { afterOwnText, mediaConflict, type Conversion, type ConvertEnv, type OutboundMedia } from './convert-env.ts';
import type { ContactData, DisappearingData, FeatureMedia, StatusData, StickerData, ViewOnceData } from './features.ts';
import { defaultFilename } from './media-chain.ts';
import { duration, excerpt, lines, oneLine } from './text.ts';
import { buildVcard, vcardFilename } from './vcard.ts';

const LABEL_LENGTH = 100;

/** Lower-case `type/subtype` without parameters. */
function essence(mime: string): string {
  return (mime.split(';')[0] ?? '').trim().toLowerCase();
}

/** Copies a media object without undefined fields. */
function media(m: FeatureMedia | OutboundMedia, over: Partial<OutboundMedia> = {}): OutboundMedia {
  const out: OutboundMedia = { kind: m.kind, mime: m.mime };
  if (m.data !== undefined) out.data = m.data;
  if (m.url !== undefined) out.url = m.url;
  // The message's own attachment may stand for a file uploaded ahead (CoreApi.uploadMedia).
  if ('uploadId' in m && m.uploadId !== undefined) out.uploadId = m.uploadId;
  if (m.filename !== undefined) out.filename = m.filename;
  if (m.caption !== undefined) out.caption = m.caption;
  return { ...out, ...over };
}

/** Two texts of one message: the same or an empty one counts once, else both, blank line between. */
function joinTexts(a: string | undefined, b: string | undefined): string | undefined {
  const x = a?.trim() ? a : undefined;
  const y = b?.trim() ? b : undefined;
  if (x === undefined || y === undefined || x === y) return x ?? y;
  return `${x}\n\n${y}`;
}

export function sticker(d: StickerData, o: DowngradeOptions['sticker'], env: ConvertEnv): Conversion {
  const conflict = mediaConflict(env);
  if (conflict) return conflict;
  const mime = d.mime;
  const type = essence(mime);
  const isVideo = type.startsWith('video/');
  const isImage = type.startsWith('image/');
  const animated = d.animated ?? (isVideo || type === 'application/x-tgsticker');
  const label = `${animated ? 'Animated sticker' : 'Sticker'}${d.emoji === undefined ? '' : ` ${oneLine(d.emoji)}`}`;
  const size = d.media.data?.byteLength;

  type Form = { kind: MediaKind; mime: string; transcode?: { from: string; to: string } };
  const forms: Form[] = [];
  const asImage = (): void => {
    if (isImage) forms.push({ kind: 'image', mime });
  };
  const asVideo = (): void => {
    if (isVideo) forms.push({ kind: 'video', mime });
    else if (animated && env.canTranscode(mime, 'video/mp4')) forms.push({ kind: 'video', mime: 'video/mp4', transcode: { from: mime, to: 'video/mp4' } });
  };
  if (!animated || o.animated_to === 'image') {
    asImage();
    asVideo();
  } else if (o.animated_to === 'video') {
    asVideo();
    asImage();
  }
  forms.push({ kind: 'document', mime });

  for (const f of forms) {
    if (!env.fits(f.kind, f.transcode ? undefined : size)) continue;
    const filename = d.media.filename ?? (f.kind === 'document' ? defaultFilename('sticker', mime) : undefined);
    const out: OutboundMedia = { kind: f.kind, mime: f.mime };
    if (d.media.data !== undefined) out.data = d.media.data;
    if (d.media.url !== undefined) out.url = d.media.url;
    if (filename !== undefined) out.filename = filename;
    if (d.media.caption !== undefined) out.caption = d.media.caption;
    return {
      kind: 'converted',
      ...(env.msg.text !== undefined ? { text: env.msg.text } : {}),
      media: out,
      fallback: label,
      to: f.kind,
      ...(f.transcode ? { transcode: f.transcode } : {}),
    };
  }
  return { kind: 'converted', text: afterOwnText(env, `[${label}]`), fallback: label, to: 'text' };
}

export function contact(d: ContactData, o: DowngradeOptions['contact'], env: ConvertEnv): Conversion {
  const fallback = `Contact: ${excerpt(d.name, LABEL_LENGTH)}`;
  const name = oneLine(d.name);
  // A message that already has media cannot carry the card too: the details then go as text.
  if (o.format === 'vcard' && env.msg.media === undefined) {
    const data = new TextEncoder().encode(buildVcard(d, o.vcard_version));
    if (env.fits('document', data.byteLength)) {
      return {
        kind: 'converted',
        ...(env.msg.text !== undefined ? { text: env.msg.text } : {}),
        media: { kind: 'document', mime: 'text/vcard', data, filename: vcardFilename(d.name), caption: `👤 ${name}` },
        fallback,
        to: 'document',
      };
    }
  }
  const text = lines(
    `👤 ${name}`,
    d.organization === undefined ? undefined : oneLine(d.organization),
    ...(d.phones ?? []).map((p) => `📞 ${p.number}${p.label === undefined ? '' : ` (${oneLine(p.label)})`}`),
    ...(d.emails ?? []).map((e) => `✉️ ${e}`),
  );
  return { kind: 'converted', text: afterOwnText(env, text), fallback, to: 'text' };
}

/**
 * The text and attachment of a feature that wraps a whole message (disappearing, status): its own
 * `text`/`media` joined with the message's; one attachment at most, and at least one of the two.
 */
function messageBody(
  d: { text?: string; media?: FeatureMedia },
  env: ConvertEnv,
  what: string,
): { text: string | undefined; m: FeatureMedia | OutboundMedia | undefined } | Conversion {
  if (d.media !== undefined && env.msg.media !== undefined) return mediaConflict(env) as Conversion;
  const text = joinTexts(env.msg.text, d.text);
  const m = d.media ?? env.msg.media;
  if (text === undefined && m === undefined) {
    return {
      kind: 'reject',
      reason: 'invalid-feature',
      message: `A ${what} needs a text or an attachment.`,
      issues: [{ path: 'feature.data.text', message: `a ${what} needs text or media (here or in the message)` }],
    };
  }
  return { text, m };
}

export function disappearing(d: DisappearingData, o: DowngradeOptions['disappearing'], env: ConvertEnv): Conversion {
  const body = messageBody(d, env, 'disappearing message');
  if ('kind' in body) return body;
  const { text, m } = body;
  return {
    kind: 'converted',
    ...(text !== undefined ? { text } : {}),
    ...(m !== undefined ? { media: media(m) } : {}),
    fallback: `Disappearing message (timer ${duration(d.seconds)}): the timer does not apply across networks, so it will not disappear.`,
    to: m?.kind ?? 'text',
    ...(o.notify_sender
      ? { notice: 'Sent without the timer: disappearing messages do not work across networks, so this message will not disappear for the recipient.' }
      : {}),
  };
}

const MEDIA_NOUN: Readonly<Record<MediaKind, string>> = {
  image: 'photo',
  video: 'video',
  audio: 'audio message',
  voice: 'voice message',
  document: 'file',
};

export function viewOnce(d: ViewOnceData, o: DowngradeOptions['view-once'], env: ConvertEnv): Conversion {
  const conflict = mediaConflict(env);
  if (conflict) return conflict;
  const noun = MEDIA_NOUN[d.media.kind];
  return {
    kind: 'converted',
    ...(env.msg.text !== undefined ? { text: env.msg.text } : {}),
    media: media(d.media),
    fallback: `View-once ${noun}: view-once does not apply across networks.`,
    to: d.media.kind,
    ...(o.notify_sender ? { notice: `Sent as a normal ${noun}: view-once does not work across networks, so the recipient can view it again and keep it.` } : {}),
  };
}

export function status(d: StatusData, o: DowngradeOptions['status'], env: ConvertEnv): Conversion {
  const body = messageBody(d, env, 'status update');
  if ('kind' in body) return body;
  const { text, m } = body;
  const captioned = m !== undefined && text === undefined ? media(m, { caption: `${o.prefix}${m.caption ?? ''}`.trimEnd() }) : m && media(m);
  return {
    kind: 'converted',
    ...(text !== undefined ? { text: `${o.prefix}${text}` } : {}),
    ...(captioned !== undefined ? { media: captioned } : {}),
    fallback: 'Status update',
    to: m?.kind ?? 'text',
  };
}
