// Unit tests of the Matrix adapter's attachment parts: encrypted attachments (the bridge's
// node:crypto code against the test's WebCrypto code, both ways), the checks on a `file` object,
// the cap and the hash check of the verifying stream, what an attachment event says (MSC2530
// captions), and that the feature payloads the bridge builds are what src/policy accepts.
import { describe, expect, it } from 'vitest';
import { AttachmentError, encryptAttachment, readAll, readEncryptedFile, verifyingStream } from '../../../adapters/matrix/attachment.ts';
import { classify } from '../../../adapters/matrix/content.ts';
import { readAttachment } from '../../../adapters/matrix/media-in.ts';
import { defaultName } from '../../../adapters/matrix/media-out.ts';
import { checkFeature } from '../../../src/policy/features.ts';
import { encryptAttachment as clientEncrypt, sha256hex } from './support/attachments.ts';

const through = (data: Uint8Array, stage: TransformStream<Uint8Array, Uint8Array>, chunk = 7): Promise<Uint8Array> => {
  const src = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < data.length; i += chunk) c.enqueue(data.subarray(i, i + chunk));
      c.close();
    },
  });
  return readAll(src.pipeThrough(stage));
};
const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);

describe('encrypted attachments', () => {
  it('decrypts what a client encrypted (WebCrypto), in chunks, to the same bytes', async () => {
    const plain = bytes(1000);
    const { ciphertext, file } = await clientEncrypt(plain);
    const f = readEncryptedFile({ ...file, url: 'mxc://x/y' });
    expect(sha256hex(await through(ciphertext, verifyingStream(2000, f)))).toBe(sha256hex(plain));
  });

  it('encrypts what a client can decrypt: AES-256-CTR, a fresh key and IV, counter starting at zero', async () => {
    const plain = bytes(300);
    const a = encryptAttachment(plain);
    const b = encryptAttachment(plain);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
    const iv = Buffer.from(String(a.file.iv), 'base64');
    expect(iv.subarray(8).equals(Buffer.alloc(8))).toBe(true);
    const f = readEncryptedFile({ ...a.file, url: 'mxc://x/y' });
    expect(Buffer.from(await through(a.ciphertext, verifyingStream(1000, f))).equals(Buffer.from(plain))).toBe(true);
    expect(a.file).toMatchObject({ v: 'v2', key: { kty: 'oct', alg: 'A256CTR', ext: true, key_ops: ['encrypt', 'decrypt'] } });
  });

  it('fails the stream on a changed byte (hash) and over the cap', async () => {
    const { ciphertext, file } = encryptAttachment(bytes(100));
    const f = readEncryptedFile({ ...file, url: 'mxc://x/y' });
    const bad = Buffer.from(ciphertext);
    bad.writeUInt8((bad.at(50) as number) ^ 0x80, 50);
    await expect(through(bad, verifyingStream(1000, f))).rejects.toMatchObject({ name: 'AttachmentError', code: 'hash-mismatch' });
    await expect(through(ciphertext, verifyingStream(99, f))).rejects.toMatchObject({ code: 'too-large' });
    await expect(through(bytes(100), verifyingStream(99))).rejects.toBeInstanceOf(AttachmentError);
    expect((await through(bytes(100), verifyingStream(100))).length).toBe(100);
  });

  it('refuses file objects it cannot use, saying why', () => {
    const { file } = encryptAttachment(bytes(10));
    const ok: Record<string, unknown> = { ...file, url: 'mxc://x/y' };
    expect(() => readEncryptedFile(ok)).not.toThrow();
    for (const [bad, why] of [
      [{ ...ok, v: 'v1' }, /version/],
      [{ ...ok, url: 'https://x/y' }, /mxc/],
      [{ ...ok, key: { ...(ok.key as object), alg: 'A128CTR' } }, /AES-256-CTR/],
      [{ ...ok, key: { ...(ok.key as object), key_ops: ['encrypt'] } }, /decrypt/],
      [{ ...ok, key: { ...(ok.key as object), k: 'AAAA' } }, /256 bits/],
      [{ ...ok, iv: 'AAAA' }, /16 bytes/],
      [{ ...ok, hashes: {} }, /SHA-256/],
      [null, /no file/],
    ] as const) {
      expect(() => readEncryptedFile(bad)).toThrow(why);
    }
  });
});

describe('attachment events', () => {
  it('reads type, size, file name and an MSC2530 caption', () => {
    expect(readAttachment({ msgtype: 'm.image', body: 'cat.png', url: 'mxc://x/y', info: { mimetype: 'image/png', size: 12 } }, 'image')).toEqual({ url: 'mxc://x/y', mime: 'image/png', size: 12, filename: 'cat.png' });
    expect(readAttachment({ msgtype: 'm.image', body: 'look <b>here</b>', format: 'org.matrix.custom.html', formatted_body: 'look <b>here</b>', filename: 'cat.png', url: 'mxc://x/y' }, 'image')).toMatchObject({ filename: 'cat.png', caption: 'look *here*', mime: 'image/jpeg' });
    expect(readAttachment({ msgtype: 'm.audio', body: 'Voice message', url: 'mxc://x/y', info: { mimetype: 'audio/ogg; codecs=opus' } }, 'voice')).toEqual({ url: 'mxc://x/y', mime: 'audio/ogg' });
    expect(() => readAttachment({ msgtype: 'm.file', body: 'x' }, 'document')).toThrow(/no file/);
  });

  it('names files that came without a name', () => {
    expect(defaultName('image', 'image/jpeg')).toBe('image.jpg');
    expect(defaultName('voice', 'audio/ogg; codecs=opus')).toBe('voice.ogg');
    expect(defaultName('document', 'application/x-unknown')).toBe('document.bin');
  });
});

describe('structured features', () => {
  it('builds payloads that src/policy accepts (with the hub message id the bridge fills in)', () => {
    const target = { target_id: 'HIPmsg0001' };
    const cases: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
      ['m.reaction', { 'm.relates_to': { rel_type: 'm.annotation', event_id: '$e', key: '👍' } }, target],
      ['m.room.message', { msgtype: 'm.text', body: '* x', 'm.new_content': { body: 'x' }, 'm.relates_to': { rel_type: 'm.replace', event_id: '$e' } }, target],
      ['m.room.redaction', { redacts: '$e' }, target],
      ['m.room.message', { msgtype: 'm.location', body: 'Big Ben', geo_uri: 'geo:51.5007,-0.1246' }, {}],
      ['org.matrix.msc3381.poll.start', { 'org.matrix.msc3381.poll.start': { question: { 'org.matrix.msc1767.text': 'Lunch?' }, answers: [{ 'org.matrix.msc1767.text': 'Yes' }, { 'org.matrix.msc1767.text': 'No' }] } }, {}],
      ['m.sticker', { body: 'cat', url: 'mxc://x/y', info: { mimetype: 'image/png' } }, { media: { data: new Uint8Array([1]) } }],
    ];
    for (const [type, content, extra] of cases) {
      const c = classify(type, content);
      if (c.kind !== 'feature' || !c.data) throw new Error(`${type}: no structured form`);
      const check = checkFeature({ name: c.feature, data: { ...c.data, ...extra } });
      expect(check.ok, `${type}: ${JSON.stringify(check)}`).toBe(true);
    }
  });
});
