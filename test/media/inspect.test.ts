// The kind and MIME rules on real files built in code (support/fixtures.ts), the metadata read
// from them, and file name sanitising.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaError, type MediaErrorCode } from '../../src/media/errors.ts';
import { sanitizeFilename } from '../../src/media/filename.ts';
import { inspectFile } from '../../src/media/inspect.ts';
import type { MediaKind } from '../../src/protocol/types.ts';
import { elf, jpeg, m4a, mp4, oggOpus, pdf, png } from './support/fixtures.ts';

let dir: string;
let n = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'causeway-inspect-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function file(content: Uint8Array | string): Promise<string> {
  n += 1;
  const path = join(dir, `f${n}`);
  await writeFile(path, content);
  return path;
}

async function refusal(content: Uint8Array | string, kind: MediaKind, declared: string): Promise<{ code: MediaErrorCode; message: string }> {
  const err = await inspectFile(await file(content), kind, declared).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(MediaError);
  return { code: (err as MediaError).code, message: (err as MediaError).message };
}

describe('accepted media, with metadata', () => {
  it('image: PNG and JPEG with width and height; EXIF orientation 6 swaps them', async () => {
    expect(await inspectFile(await file(png(40, 30)), 'image', 'image/png')).toMatchObject({ mime: 'image/png', width: 40, height: 30 });
    expect(await inspectFile(await file(jpeg(33, 17)), 'image', 'image/jpeg')).toMatchObject({ mime: 'image/jpeg', width: 33, height: 17 });
    expect(await inspectFile(await file(jpeg(33, 17, 6)), 'image', 'image/jpg')).toMatchObject({ mime: 'image/jpeg', width: 17, height: 33 });
  });

  it('image: a wrong label inside the image family is corrected to the sniffed type', async () => {
    expect(await inspectFile(await file(jpeg(8, 8)), 'image', 'image/png')).toMatchObject({ mime: 'image/jpeg', sniffed: 'image/jpeg' });
  });

  it('video: MP4 with width, height and duration', async () => {
    expect(await inspectFile(await file(mp4(320, 240, 3000)), 'video', 'video/mp4')).toEqual({ mime: 'video/mp4', sniffed: 'video/mp4', width: 320, height: 240, durationMs: 3000 });
  });

  it('voice: Ogg Opus and AAC in M4A stay voice, with duration', async () => {
    expect(await inspectFile(await file(oggOpus(2.5)), 'voice', 'audio/ogg; codecs=opus')).toMatchObject({ mime: 'audio/ogg; codecs=opus', durationMs: 2500 });
    expect(await inspectFile(await file(m4a(1500)), 'voice', 'audio/mp4')).toMatchObject({ mime: 'audio/mp4', durationMs: 1500 });
    expect(await inspectFile(await file(m4a(1500)), 'voice', 'audio/aac')).toMatchObject({ mime: 'audio/mp4' });
  });

  it('audio: Opus and M4A', async () => {
    expect(await inspectFile(await file(oggOpus(1)), 'audio', 'audio/ogg')).toMatchObject({ mime: 'audio/ogg', durationMs: 1000 });
    expect(await inspectFile(await file(m4a(900)), 'audio', 'audio/x-m4a')).toMatchObject({ mime: 'audio/mp4', durationMs: 900 });
  });

  it('document: PDF, UTF-8 text types without a signature, and opaque binaries of unknown types', async () => {
    expect(await inspectFile(await file(pdf()), 'document', 'application/pdf')).toMatchObject({ mime: 'application/pdf' });
    expect(await inspectFile(await file(pdf()), 'document', 'application/octet-stream')).toMatchObject({ mime: 'application/pdf' });
    expect(await inspectFile(await file('name,phone\nZoë,+447700900123\n'), 'document', 'text/csv')).toEqual({ mime: 'text/csv' });
    expect(await inspectFile(await file('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Zoë\r\nEND:VCARD\r\n'), 'document', 'text/vcard')).toMatchObject({ mime: 'text/vcard' });
    expect(await inspectFile(await file('\ufeffplain text with a BOM'), 'document', 'text/plain; charset=utf-8')).toEqual({ mime: 'text/plain' });
    expect(await inspectFile(await file(Buffer.from([1, 2, 3, 250, 251, 0, 7])), 'document', 'application/x-custom-thing')).toEqual({ mime: 'application/x-custom-thing' });
  });
});

describe('refusals', () => {
  it('a PDF declared as an image is a mime-mismatch', async () => {
    expect(await refusal(pdf(), 'image', 'image/jpeg')).toEqual({ code: 'mime-mismatch', message: 'the content is application/pdf, not an image' });
  });

  it('content outside the kind, or a declared type outside its family, is a mime-mismatch', async () => {
    expect((await refusal(png(4, 4), 'video', 'video/mp4')).code).toBe('mime-mismatch');
    expect((await refusal(mp4(8, 8, 100), 'image', 'image/png')).code).toBe('mime-mismatch');
    expect((await refusal(png(4, 4), 'image', 'application/pdf')).code).toBe('mime-mismatch');
    expect((await refusal(oggOpus(1), 'video', 'video/ogg')).code).toBe('mime-mismatch');
    expect((await refusal('<svg xmlns="http://www.w3.org/2000/svg"/>', 'image', 'image/svg+xml')).code).toBe('mime-mismatch');
    expect((await refusal(png(4, 4), 'image', 'not a mime type')).code).toBe('mime-mismatch');
  });

  it('voice must be Opus or AAC: a video MP4 or a PNG is refused', async () => {
    expect(await refusal(mp4(8, 8, 100), 'voice', 'audio/mp4')).toMatchObject({ code: 'mime-mismatch', message: expect.stringContaining('Opus in Ogg or AAC') });
    expect((await refusal(png(4, 4), 'voice', 'audio/ogg')).code).toBe('mime-mismatch');
  });

  it('documents: a declared type whose signature is missing, non-UTF-8 or NUL bytes as text, another sniffed type', async () => {
    expect(await refusal('just text', 'document', 'application/pdf')).toMatchObject({ code: 'mime-mismatch', message: expect.stringContaining('lacks its signature') });
    expect((await refusal(Buffer.from([0x68, 0x69, 0xff, 0xfe]), 'document', 'text/plain')).code).toBe('mime-mismatch');
    expect((await refusal(Buffer.from('text\0with nul'), 'document', 'text/plain')).code).toBe('mime-mismatch');
    expect((await refusal(png(4, 4), 'document', 'application/pdf')).code).toBe('mime-mismatch');
  });

  it('executables are unsupported whatever they are declared as', async () => {
    expect(await refusal(elf(), 'document', 'application/octet-stream')).toEqual({ code: 'unsupported-kind', message: 'executables and installers are not sent' });
    expect((await refusal(elf(), 'document', 'text/plain')).code).toBe('unsupported-kind');
    expect((await refusal('#!/bin/sh', 'document', 'application/x-msdownload')).code).toBe('unsupported-kind');
  });

  it('an unknown kind is unsupported-kind', async () => {
    expect((await refusal(png(4, 4), 'sticker' as MediaKind, 'image/png')).code).toBe('unsupported-kind');
  });
});

describe('sanitizeFilename', () => {
  it('keeps the last path component without control and bidi characters', () => {
    expect(sanitizeFilename('../../etc/passwd')).toBe('passwd');
    expect(sanitizeFilename('C:\\Users\\zoe\\report.pdf')).toBe('report.pdf');
    expect(sanitizeFilename('invoice\u202Egpj.exe')).toBe('invoicegpj.exe');
    expect(sanitizeFilename('a\r\nb\t c.txt')).toBe('ab c.txt');
    expect(sanitizeFilename('..')).toBeUndefined();
    expect(sanitizeFilename('  ')).toBeUndefined();
    expect(sanitizeFilename(undefined)).toBeUndefined();
  });

  it('cuts long names to 255 UTF-8 bytes on code point boundaries, keeping the extension', () => {
    const long = sanitizeFilename(`${'é'.repeat(300)}.pdf`) ?? '';
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(255);
    expect(long.endsWith('é.pdf')).toBe(true);
    expect(sanitizeFilename('x'.repeat(1_000_000))?.length).toBe(255);
  });
});
