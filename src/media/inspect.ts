// Looks at a plaintext file before it is encrypted (outbound) or after it was verified (inbound):
// the MIME type from its content (file-type reads only the bytes its signatures need), width and
// height of images (image-size, on at most the first 512 KiB) and videos, duration of audio, voice
// and video (music-metadata, which seeks in the file instead of reading it whole), then applies
// the kind rules of mime-rules.ts. Metadata is best effort: unreadable metadata leaves the field
// out; only the kind/MIME decision can refuse a file.
import { open } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { fileTypeFromFile, supportedMimeTypes } from 'file-type';
import { imageSize } from 'image-size';
import { parseFile } from 'music-metadata';
import type { MediaKind } from '../protocol/types.ts';
import { decideMime, essence, type AvInfo } from './mime-rules.ts';

export interface Inspection {
  /** The MIME type to send on (see mime-rules.ts). */
  mime: string;
  /** What the sniffer found, if anything (for logs). */
  sniffed?: string;
  width?: number;
  height?: number;
  durationMs?: number;
}

/** Bytes of an image's head given to image-size: enough for JPEG SOF markers after large EXIF blocks. */
const IMAGE_HEAD_BYTES = 512 * 1024;

const SNIFFABLE: ReadonlySet<string> = new Set(
  [...supportedMimeTypes].map((m) => essence(m)).filter((m): m is string => m !== undefined),
);

export async function inspectFile(path: string, kind: MediaKind, declaredMime: string): Promise<Inspection> {
  const sniffed = (await fileTypeFromFile(path).catch(() => undefined))?.mime;
  const av = kind === 'audio' || kind === 'voice' || kind === 'video' ? await readAvInfo(path) : undefined;
  const mime = await decideMime({ kind, declared: declaredMime, sniffed, av, sniffable: SNIFFABLE, isText: () => isUtf8Text(path) });
  const out: Inspection = { mime, ...(sniffed === undefined ? {} : { sniffed }) };
  if (kind === 'image') Object.assign(out, await readImageSize(path));
  if (av !== undefined) {
    if (av.durationMs !== undefined) out.durationMs = av.durationMs;
    if (kind === 'video' && av.width !== undefined && av.height !== undefined) Object.assign(out, { width: av.width, height: av.height });
  }
  return out;
}

/** Width and height as displayed (EXIF orientations 5–8 swap them), or {} when unreadable. */
export async function readImageSize(path: string): Promise<{ width?: number; height?: number }> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(IMAGE_HEAD_BYTES);
    const { bytesRead } = await handle.read(head, 0, IMAGE_HEAD_BYTES, 0);
    const dim = imageSize(head.subarray(0, bytesRead));
    if (!positive(dim.width) || !positive(dim.height)) return {};
    const swap = dim.orientation !== undefined && dim.orientation >= 5 && dim.orientation <= 8;
    return swap ? { width: dim.height, height: dim.width } : { width: dim.width, height: dim.height };
  } catch {
    return {};
  } finally {
    await handle.close();
  }
}

/** Tracks, codec, duration and video size, or undefined when the parser cannot read the file. */
export async function readAvInfo(path: string): Promise<AvInfo | undefined> {
  try {
    const { format } = await parseFile(path, { duration: true, skipCovers: true });
    const video = format.trackInfo.find((t) => t.video?.pixelWidth !== undefined)?.video;
    const info: AvInfo = {
      hasAudio: format.hasAudio ?? format.trackInfo.some((t) => t.audio !== undefined),
      hasVideo: format.hasVideo ?? video !== undefined,
    };
    if (format.codec !== undefined) info.codec = format.codec;
    // music-metadata sets format.duration from audio; a video-only file has it per track only.
    const seconds = format.duration ?? Math.max(0, ...format.trackInfo.map((t) => t.duration ?? 0));
    if (Number.isFinite(seconds) && seconds > 0) info.durationMs = Math.round(seconds * 1000);
    const w = video?.displayWidth ?? video?.pixelWidth;
    const h = video?.displayHeight ?? video?.pixelHeight;
    if (positive(w) && positive(h)) Object.assign(info, { width: w, height: h });
    return info;
  } catch {
    return undefined;
  }
}

/** True when the whole file is valid UTF-8 (a BOM is fine) without NUL bytes; streamed. */
export async function isUtf8Text(path: string): Promise<boolean> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  try {
    for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
      if (chunk.includes(0)) return false;
      decoder.decode(chunk, { stream: true });
    }
    decoder.decode();
    return true;
  } catch {
    return false;
  }
}

function positive(n: number | undefined): n is number {
  return n !== undefined && Number.isSafeInteger(n) && n > 0;
}
