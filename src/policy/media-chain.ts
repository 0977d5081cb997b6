// Which media kind a file can travel as, when its own kind is not carried or is too large.
// Outbound the limits are the hub's (features-cache.ts); inbound they are what the provider can
// show (Capabilities.media). The chains keep the most of the meaning: a voice note is still audio,
// any file is still a document. Pure.
import type { MediaKind } from '../protocol/index.ts';

/** Each kind, then what it may become, in order of preference. */
export const MEDIA_CHAIN: Readonly<Record<MediaKind, readonly MediaKind[]>> = {
  voice: ['voice', 'audio', 'document'],
  audio: ['audio', 'document'],
  image: ['image', 'document'],
  video: ['video', 'document'],
  document: ['document'],
};

/** Labels for texts ("a photo", "Voice message"). */
export const KIND_LABEL: Readonly<Record<MediaKind, string>> = {
  image: 'Photo',
  video: 'Video',
  audio: 'Audio',
  voice: 'Voice message',
  document: 'Document',
};

export type Placement = { ok: true; kind: MediaKind } | { ok: false; reason: 'unsupported-in-interop' | 'too-large' };

/**
 * The first kind of `kind`'s chain that `accepts` and whose limit `size` fits (size unknown: any
 * limit fits). `too-large` when some kind was accepted but none was large enough.
 */
export function placeMedia(
  kind: MediaKind,
  size: number | undefined,
  accepts: (k: MediaKind) => boolean,
  limit: (k: MediaKind) => number = () => Infinity,
): Placement {
  let accepted = false;
  for (const k of MEDIA_CHAIN[kind]) {
    if (!accepts(k)) continue;
    accepted = true;
    if (size === undefined || size <= limit(k)) return { ok: true, kind: k };
  }
  return { ok: false, reason: accepted ? 'too-large' : 'unsupported-in-interop' };
}

const EXTENSIONS: Readonly<Record<string, string>> = {
  'image/jpeg': 'jpg', 'image/png': 'png', 'image/gif': 'gif', 'image/webp': 'webp', 'image/heic': 'heic',
  'video/mp4': 'mp4', 'video/webm': 'webm', 'video/quicktime': 'mov', 'video/3gpp': '3gp',
  'audio/ogg': 'ogg', 'audio/opus': 'opus', 'audio/aac': 'aac', 'audio/mp4': 'm4a', 'audio/mpeg': 'mp3', 'audio/wav': 'wav',
  'application/pdf': 'pdf', 'text/plain': 'txt', 'text/vcard': 'vcf', 'application/x-tgsticker': 'tgs',
};

/** A file name for a file that has none: `voice.ogg`, `image.jpg`, `sticker` (unknown type). */
export function defaultFilename(base: string, mime: string): string {
  const ext = EXTENSIONS[mime.split(';')[0]?.trim().toLowerCase() ?? ''];
  return ext === undefined ? base : `${base}.${ext}`;
}
