// Which content may travel as which media kind (spec 11 `kind`), decided from the sniffed type
// (by content), the declared type, and what the audio/video parser found. Pure: no IO.
//
// Rules (docs/media.md):
// - image: the sniffer must find one of IMAGE_TYPES. SVG has no signature and can carry script: it
//   goes as a document.
// - video: the sniffer must find one of VIDEO_TYPES.
// - audio: an audio/* type, or an MP4 container holding audio and no video.
// - voice: Opus in Ogg, AAC in ADTS, or AAC in an MP4/M4A container without video (spec 11.1:
//   "an Opus or AAC recording").
// - document: anything but native executables and installers. A sniffed type must agree with the
//   declared one (the same type, an alias, or a format built on the sniffed container such as
//   DOCX on ZIP); when the sniffer finds nothing, a declared text type needs UTF-8 without NUL
//   bytes, a declared type the sniffer would have recognised is a mismatch, and anything else is
//   accepted as the opaque binary it claims to be.
// For image, video, audio and voice the declared type must be of the same family (image/*…) and
// the type sent on is the sniffed one: a `image/png` label on a JPEG is corrected, a PDF declared
// as an image is refused.
import { MediaError } from './errors.ts';
import type { MediaKind } from '../protocol/types.ts';

/** What the audio/video parser found (best effort: every field may be missing). */
export interface AvInfo {
  hasAudio: boolean;
  hasVideo: boolean;
  /** music-metadata's codec names, e.g. `MPEG-4/AAC`, `Opus`. */
  codec?: string;
  durationMs?: number;
  width?: number;
  height?: number;
}

export interface MimeInput {
  kind: MediaKind;
  declared: string;
  /** The sniffer's answer (file-type), undefined when no signature matched. */
  sniffed?: string;
  av?: AvInfo;
  /** Types the sniffer can recognise: a declared one of these with no signature is a lie. */
  sniffable: ReadonlySet<string>;
  /** Whether the whole file is UTF-8 without NUL bytes (asked only for text types). */
  isText: () => Promise<boolean>;
}

const ALIASES: Record<string, string> = {
  'image/jpg': 'image/jpeg', 'image/pjpeg': 'image/jpeg', 'image/x-png': 'image/png',
  'audio/x-m4a': 'audio/mp4', 'audio/m4a': 'audio/mp4', 'audio/mp4a-latm': 'audio/mp4', 'audio/x-mp4': 'audio/mp4',
  'audio/x-aac': 'audio/aac', 'audio/aacp': 'audio/aac', 'audio/opus': 'audio/ogg',
  'audio/mp3': 'audio/mpeg', 'audio/x-mp3': 'audio/mpeg', 'audio/x-mpeg': 'audio/mpeg',
  'audio/x-wav': 'audio/wav', 'audio/wave': 'audio/wav', 'audio/vnd.wave': 'audio/wav', 'audio/x-flac': 'audio/flac',
  'video/x-m4v': 'video/mp4', 'application/x-zip-compressed': 'application/zip', 'application/x-zip': 'application/zip',
  'application/x-pdf': 'application/pdf', 'text/x-vcard': 'text/vcard', 'text/directory': 'text/vcard',
  'text/xml': 'application/xml', 'application/ogg': 'audio/ogg',
};

/** Native executables and installers: never sent, whatever the kind (sniffed or declared). */
export const BLOCKED_TYPES: ReadonlySet<string> = new Set([
  'application/x-msdownload', 'application/vnd.microsoft.portable-executable', 'application/x-dosexec',
  'application/x-msdos-program', 'application/x-elf', 'application/x-executable', 'application/x-sharedlib',
  'application/x-mach-binary', 'application/x-msi', 'application/x-ms-installer', 'application/vnd.android.package-archive',
  'application/x-deb', 'application/vnd.debian.binary-package', 'application/x-rpm', 'application/java-vm',
  'application/x-apple-diskimage',
]);

/** Images and videos phones display inline; other image/video types (PSD, AVI…) go as documents. */
export const IMAGE_TYPES: ReadonlySet<string> = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/heic', 'image/heif', 'image/avif', 'image/bmp']);
export const VIDEO_TYPES: ReadonlySet<string> = new Set(['video/mp4', 'video/quicktime', 'video/webm', 'video/3gpp', 'video/3gpp2', 'video/x-matroska', 'video/ogg']);
const MP4_FAMILY = new Set(['video/mp4', 'audio/mp4', 'video/quicktime', 'video/3gpp', 'video/3gpp2']);
const TEXT_TYPES = new Set(['application/json', 'application/xml', 'application/x-ndjson', 'application/javascript', 'application/x-yaml', 'application/yaml', 'application/sql', 'application/x-subrip']);
const TOKEN = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;

/** `Type/Sub; x=y` → `type/sub` with aliases resolved; undefined when it is not a MIME type. */
export function essence(mime: string): string | undefined {
  const base = mime.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  if (!TOKEN.test(base)) return undefined;
  return ALIASES[base] ?? base;
}

const family = (m: string): string => m.slice(0, m.indexOf('/'));

function isTextType(m: string): boolean {
  return m.startsWith('text/') || TEXT_TYPES.has(m) || m.endsWith('+json') || m.endsWith('+xml');
}

/** Declared types a sniffed container type stands for (the sniffer often sees only the container). */
function builtOn(container: string, declared: string): boolean {
  switch (container) {
    case 'application/zip':
      return declared.endsWith('+zip') || declared.startsWith('application/vnd.openxmlformats-officedocument.')
        || declared.startsWith('application/vnd.oasis.opendocument.') || declared.startsWith('application/vnd.ms-')
        || declared === 'application/java-archive' || declared === 'application/vnd.apple.pages' || declared === 'application/vnd.apple.numbers'
        || declared === 'application/vnd.apple.keynote';
    case 'application/x-cfb':
      return declared === 'application/msword' || declared.startsWith('application/vnd.ms-') || declared === 'application/vnd.visio';
    case 'application/xml':
      return declared.endsWith('+xml');
    case 'application/gzip':
      return declared === 'application/x-gzip' || declared === 'application/x-tar' || declared === 'application/x-gtar';
    default:
      return false;
  }
}

function refuse(message: string): never {
  throw new MediaError('mime-mismatch', message);
}

/** Decides the MIME type sent on for `kind`, or throws MediaError (`mime-mismatch`, `unsupported-kind`). */
export async function decideMime(i: MimeInput): Promise<string> {
  const declared = essence(i.declared);
  if (declared === undefined) refuse(`"${i.declared.slice(0, 80)}" is not a MIME type`);
  const sniffedFull = i.sniffed?.toLowerCase();
  const sniffed = sniffedFull === undefined ? undefined : essence(sniffedFull);
  if (BLOCKED_TYPES.has(declared) || (sniffed !== undefined && BLOCKED_TYPES.has(sniffed))) {
    throw new MediaError('unsupported-kind', 'executables and installers are not sent');
  }
  const what = sniffed ?? 'of no recognisable type';
  const av = i.av;
  switch (i.kind) {
    case 'image':
      if (family(declared) !== 'image') refuse(`declared ${declared} for an image`);
      if (sniffed === undefined || family(sniffed) !== 'image') refuse(`the content is ${what}, not an image`);
      if (!IMAGE_TYPES.has(sniffed)) refuse(`${sniffed} is not an image phones display; send it as a document`);
      return sniffed;
    case 'video':
      if (family(declared) !== 'video') refuse(`declared ${declared} for a video`);
      if (sniffed === undefined || family(sniffed) !== 'video') refuse(`the content is ${what}, not a video`);
      if (!VIDEO_TYPES.has(sniffed)) refuse(`${sniffed} is not a video phones play; send it as a document`);
      return sniffed;
    case 'audio': {
      if (family(declared) !== 'audio') refuse(`declared ${declared} for audio`);
      if (sniffed !== undefined && family(sniffed) === 'audio') return sniffed;
      if (sniffed !== undefined && MP4_FAMILY.has(sniffed) && av?.hasAudio === true && !av.hasVideo) return 'audio/mp4';
      return refuse(`the content is ${what}, not audio`);
    }
    case 'voice': {
      if (family(declared) !== 'audio') refuse(`declared ${declared} for a voice message`);
      if (sniffedFull === 'audio/ogg; codecs=opus') return 'audio/ogg; codecs=opus';
      if (sniffed === 'audio/aac') return 'audio/aac';
      const aac = av?.codec?.includes('AAC') === true && !av.hasVideo;
      if (sniffed !== undefined && MP4_FAMILY.has(sniffed) && aac) return 'audio/mp4';
      return refuse(`a voice message must be Opus in Ogg or AAC; the content is ${sniffedFull ?? what}`);
    }
    case 'document':
      return decideDocument(declared, sniffed, i);
    default:
      throw new MediaError('unsupported-kind', `"${String(i.kind)}" is not a media kind`);
  }
}

async function decideDocument(declared: string, sniffed: string | undefined, i: MimeInput): Promise<string> {
  if (sniffed !== undefined) {
    if (declared === sniffed || builtOn(sniffed, declared)) return declared;
    if (declared === 'application/octet-stream') return sniffed;
    return refuse(`declared ${declared}, but the content is ${sniffed}`);
  }
  if (isTextType(declared)) {
    if (await i.isText()) return declared;
    return refuse(`declared ${declared}, but the content is not UTF-8 text`);
  }
  if (i.sniffable.has(declared)) refuse(`declared ${declared}, but the content lacks its signature`);
  return declared;
}
