// Minimal media files built in code, so the tests need no binary fixtures: a real PNG (zlib), a
// decodable greyscale baseline JPEG (one-symbol Huffman tables, all-zero blocks) with an optional
// EXIF orientation, an Ogg Opus stream (OpusHead, OpusTags, silent 20 ms packets, real page CRCs),
// an M4A (AAC) and an MP4 (AVC) with just the boxes parsers read (ftyp, moov with mvhd, tkhd,
// mdhd, hdlr, stsd), a PDF, an ELF header, and a large fake MP4 generated on the fly.
import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { crc32, deflateSync } from 'node:zlib';

const u8 = (...n: number[]) => Buffer.from(n);
const u16be = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const u32be = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
const u16le = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b; };
const u32le = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n >>> 0); return b; };
const ascii = (s: string) => Buffer.from(s, 'latin1');

// ── PNG ───────────────────────────────────────────────────────────────────────────────────────

function pngChunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([ascii(type), data]);
  return Buffer.concat([u32be(data.length), body, u32be(crc32(body))]);
}

/** An RGB PNG of width × height with a gradient. */
export function png(width: number, height: number): Buffer {
  const rows: Buffer[] = [];
  for (let y = 0; y < height; y += 1) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x += 1) row.set([x & 255, y & 255, (x + y) & 255], 1 + x * 3);
    rows.push(row);
  }
  const ihdr = Buffer.concat([u32be(width), u32be(height), u8(8, 2, 0, 0, 0)]);
  return Buffer.concat([u8(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a), pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(Buffer.concat(rows))), pngChunk('IEND', Buffer.alloc(0))]);
}

// ── JPEG ──────────────────────────────────────────────────────────────────────────────────────

const segment = (marker: number, body: Buffer) => Buffer.concat([u8(0xff, marker), u16be(body.length + 2), body]);

/** A decodable mid-grey baseline JPEG; `orientation` adds an EXIF APP1 (5–8 mean rotated 90°). */
export function jpeg(width: number, height: number, orientation?: number): Buffer {
  const app0 = segment(0xe0, Buffer.concat([ascii('JFIF\0'), u8(1, 1, 0), u16be(1), u16be(1), u8(0, 0)]));
  const exif = orientation === undefined ? Buffer.alloc(0) : segment(0xe1, Buffer.concat([
    ascii('Exif\0\0'), ascii('MM'), u16be(42), u32be(8), u16be(1), u16be(0x0112), u16be(3), u32be(1), u16be(orientation), u16be(0), u32be(0),
  ]));
  const dqt = segment(0xdb, Buffer.concat([u8(0), Buffer.alloc(64, 1)]));
  const sof = segment(0xc0, Buffer.concat([u8(8), u16be(height), u16be(width), u8(1, 1, 0x11, 0)]));
  // One symbol per table: DC category 0 and AC end-of-block, each coded as the single bit 0.
  const oneSymbol = (cls: number) => segment(0xc4, Buffer.concat([u8(cls << 4), u8(1), Buffer.alloc(15), u8(0)]));
  const sos = segment(0xda, u8(1, 1, 0x00, 0, 63, 0));
  const blocks = Math.ceil(width / 8) * Math.ceil(height / 8);
  const bits = blocks * 2;
  const data = Buffer.alloc(Math.ceil(bits / 8));
  if (bits % 8 !== 0) data[data.length - 1] = (1 << (8 - (bits % 8))) - 1; // pad with 1-bits
  return Buffer.concat([u8(0xff, 0xd8), app0, exif, dqt, sof, oneSymbol(0), oneSymbol(1), sos, data, u8(0xff, 0xd9)]);
}

// ── Ogg Opus ──────────────────────────────────────────────────────────────────────────────────

const OGG_CRC = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i += 1) {
    let r = i << 24;
    for (let j = 0; j < 8; j += 1) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

function oggCrc(b: Buffer): number {
  let crc = 0;
  for (const byte of b) crc = ((crc << 8) ^ (OGG_CRC[((crc >>> 24) ^ byte) & 255] ?? 0)) >>> 0;
  return crc;
}

function oggPage(flags: number, granule: bigint, seq: number, packets: Buffer[]): Buffer {
  const lacing: number[] = [];
  for (const p of packets) {
    let n = p.length;
    while (n >= 255) { lacing.push(255); n -= 255; }
    lacing.push(n);
  }
  const g = Buffer.alloc(8);
  g.writeBigInt64LE(granule);
  const page = Buffer.concat([ascii('OggS'), u8(0, flags), g, u32le(0x1234), u32le(seq), u32le(0), u8(lacing.length), Buffer.from(lacing), ...packets]);
  page.writeUInt32LE(oggCrc(page), 22);
  return page;
}

/** A mono Ogg Opus stream of `seconds` of silence (20 ms CELT packets). */
export function oggOpus(seconds: number): Buffer {
  const preSkip = 312;
  const head = Buffer.concat([ascii('OpusHead'), u8(1, 1), u16le(preSkip), u32le(48_000), u16le(0), u8(0)]);
  const tags = Buffer.concat([ascii('OpusTags'), u32le(8), ascii('causeway'), u32le(0)]);
  const packets = Math.round(seconds * 50);
  const pages = [oggPage(0x02, 0n, 0, [head]), oggPage(0, 0n, 1, [tags])];
  let done = 0;
  let seq = 2;
  while (done < packets) {
    const n = Math.min(50, packets - done);
    done += n;
    pages.push(oggPage(done === packets ? 0x04 : 0, BigInt(preSkip + done * 960), seq, Array.from({ length: n }, () => u8(0xf8, 0xff, 0xfe))));
    seq += 1;
  }
  return Buffer.concat(pages);
}

// ── ISO BMFF (MP4 / M4A) ──────────────────────────────────────────────────────────────────────

const box = (type: string, ...parts: Buffer[]) => { const body = Buffer.concat(parts); return Buffer.concat([u32be(body.length + 8), ascii(type), body]); };
const fullBox = (type: string, version: number, flags: number, ...parts: Buffer[]) => box(type, u8(version, (flags >> 16) & 255, (flags >> 8) & 255, flags & 255), ...parts);
const MATRIX = Buffer.concat([u32be(0x10000), u32be(0), u32be(0), u32be(0), u32be(0x10000), u32be(0), u32be(0), u32be(0), u32be(0x40000000)]);

function moov(durationMs: number, trak: Buffer): Buffer {
  const mvhd = fullBox('mvhd', 0, 0, u32be(0), u32be(0), u32be(1000), u32be(durationMs), u32be(0x10000), u16be(0x100), Buffer.alloc(10), MATRIX, Buffer.alloc(24), u32be(2));
  return box('moov', mvhd, trak);
}

function trak(handler: 'vide' | 'soun', timescale: number, durationMs: number, width: number, height: number, entry: Buffer): Buffer {
  const tkhd = fullBox('tkhd', 0, 3, u32be(0), u32be(0), u32be(1), u32be(0), u32be(durationMs), Buffer.alloc(8), u16be(0), u16be(0), u16be(handler === 'soun' ? 0x100 : 0), u16be(0), MATRIX, u32be(width << 16), u32be(height << 16));
  const mdhd = fullBox('mdhd', 0, 0, u32be(0), u32be(0), u32be(timescale), u32be(Math.round((durationMs / 1000) * timescale)), u16be(0x55c4), u16be(0));
  const hdlr = fullBox('hdlr', 0, 0, u32be(0), ascii(handler), Buffer.alloc(12), ascii(handler === 'vide' ? 'VideoHandler\0' : 'SoundHandler\0'));
  const header = handler === 'vide' ? fullBox('vmhd', 0, 1, Buffer.alloc(8)) : fullBox('smhd', 0, 0, Buffer.alloc(4));
  const stbl = box('stbl', fullBox('stsd', 0, 0, u32be(1), entry), fullBox('stts', 0, 0, u32be(0)), fullBox('stsc', 0, 0, u32be(0)), fullBox('stsz', 0, 0, u32be(0), u32be(0)), fullBox('stco', 0, 0, u32be(0)));
  return box('trak', tkhd, box('mdia', mdhd, hdlr, box('minf', header, stbl)));
}

/** An M4A holding one AAC (mp4a) track of `durationMs`. */
export function m4a(durationMs: number): Buffer {
  const esds = fullBox('esds', 0, 0, u8(0x03, 0x19, 0, 1, 0, 0x04, 0x11, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05, 0x02, 0x12, 0x10, 0x06, 0x01, 0x02));
  const mp4a = box('mp4a', Buffer.alloc(6), u16be(1), u16be(0), u16be(0), u32be(0), u16be(1), u16be(16), u16be(0), u16be(0), u32be(44_100 << 16), esds);
  return Buffer.concat([box('ftyp', ascii('M4A '), u32be(0), ascii('M4A mp42isom')), moov(durationMs, trak('soun', 44_100, durationMs, 0, 0, mp4a)), box('mdat', Buffer.alloc(64, 0x21))]);
}

/** An MP4 holding one AVC (avc1) video track of width × height and `durationMs`. */
export function mp4(width: number, height: number, durationMs: number): Buffer {
  const avc1 = box('avc1', Buffer.alloc(6), u16be(1), u16be(0), u16be(0), Buffer.alloc(12), u16be(width), u16be(height), u32be(0x480000), u32be(0x480000), u32be(0), u16be(1), Buffer.alloc(32), u16be(0x18), u16be(0xffff));
  return Buffer.concat([box('ftyp', ascii('isom'), u32be(512), ascii('isomiso2avc1mp41')), moov(durationMs, trak('vide', 90_000, durationMs, width, height, avc1)), box('mdat', Buffer.alloc(64, 0x42))]);
}

// ── Others ────────────────────────────────────────────────────────────────────────────────────

export function pdf(): Buffer {
  return ascii('%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n');
}

/** The first bytes of an x86-64 ELF executable. */
export function elf(): Buffer {
  return Buffer.concat([u8(0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0), Buffer.alloc(8), u16le(2), u16le(0x3e), u32le(1), Buffer.alloc(200)]);
}

/**
 * A fake MP4 of exactly `size` bytes made on the fly: an ftyp box, then one mdat box of
 * pseudo-random bytes (AES-CTR keystream). Sniffable as video/mp4, not playable. `digest()` gives
 * the SHA-256 of everything produced once the stream ended.
 */
export function fakeMp4Stream(size: number, chunk = 256 * 1024): { stream: Readable; digest: () => Buffer } {
  const head = Buffer.concat([box('ftyp', ascii('isom'), u32be(512), ascii('isomiso2avc1mp41')), u32be(size - 32), ascii('mdat')]);
  const keystream = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0));
  const hash = createHash('sha256');
  let sent = 0;
  let result: Buffer | undefined;
  const zeros = Buffer.alloc(chunk);
  const stream = new Readable({
    read() {
      if (sent >= size) {
        result = hash.digest();
        this.push(null);
        return;
      }
      let out = sent === 0 ? Buffer.concat([head, keystream.update(zeros.subarray(0, chunk - head.length))]) : keystream.update(zeros.subarray(0, Math.min(chunk, size - sent)));
      if (out.length > size - sent) out = out.subarray(0, size - sent);
      sent += out.length;
      hash.update(out);
      this.push(out);
    },
  });
  return { stream, digest: () => { if (result === undefined) throw new Error('stream not finished'); return result; } };
}

export const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();
