// Media from a provider user to a hub user through the whole sidecar (issue: media both ways):
// the file is checked by content, encrypted (AES-256-GCM), hosted at a signed URL; the hub user's
// device fetches it through the hub's media proxy and gets byte-identical plaintext.
import { createDecipheriv } from 'node:crypto';
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../delivery/harness.ts';
import { fakeMp4Stream, jpeg, m4a, mp4, oggOpus, pdf, png, sha256 } from '../media/support/fixtures.ts';
import { API_TOKEN, startStack, type Stack } from './sidecar-stack.ts';

type Entry = { id: string; decrypted: boolean; error?: string; content?: { text?: string; media?: { kind: string; mime: string; size: number; sha256: string; filename?: string } } };
const ADA = '447700900123@hub';
let s: Stack;
let n = 0;

beforeAll(async () => {
  s = await startStack({ users: [{ phone: '+447700900123', name: 'Ada', devices: [0], script: { echo: false, receipts: true, read: false, delay_ms: 0 } }] });
  expect((await s.api('PUT', '/v1/users/alice/interop', { enabled: true })).status).toBe(200);
});
afterAll(() => s.close());

const send = (media: Record<string, unknown>, text?: string) =>
  s.api('POST', '/v1/messages', { from: 'alice', to: ADA, media, ...(text ? { text } : {}) }, { 'idempotency-key': `media-${n++}` });
const atHub = (id: string) =>
  eventually(async () => ((await s.control('GET', `/users/${ADA}/inbox`)).body as unknown as { messages: Entry[] }).messages.find((m) => m.id === id), 20_000, `message ${id} at the hub`);

describe('media, provider → hub', () => {
  for (const [kind, mime, file, filename] of [
    ['image', 'image/png', png(32, 24), 'dot.png'],
    ['image', 'image/jpeg', jpeg(16, 16), 'photo.jpg'],
    ['video', 'video/mp4', mp4(64, 48, 1500), 'clip.mp4'],
    ['audio', 'audio/mp4', m4a(1200), 'song.m4a'],
    ['voice', 'audio/ogg', oggOpus(2), undefined],
    ['document', 'application/pdf', pdf(), 'report.pdf'],
  ] as const) {
    it(`${kind} (${mime}) arrives byte-identical, checked by hash`, async () => {
      const r = await send({ kind, mime, data_base64: file.toString('base64'), ...(filename ? { filename } : {}) }, 'see attached');
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      const m = await atHub(r.body.message_id as string);
      expect(m.decrypted, m.error).toBe(true);
      expect(m.content?.media).toMatchObject({ kind, size: file.length, sha256: sha256(file).toString('hex') });
      expect(m.content?.media?.mime.startsWith(mime)).toBe(true); // the checked type may add parameters (audio/ogg; codecs=opus)
      expect(m.content?.text).toBe('see attached');
    });
  }

  it('refuses a MIME mismatch and a malformed media field with a clear 4xx, sending nothing', async () => {
    const mismatch = await send({ kind: 'image', mime: 'image/png', data_base64: pdf().toString('base64') });
    expect(mismatch.status).toBe(422);
    expect(JSON.stringify(mismatch.body)).toMatch(/media/);
    const both = await send({ kind: 'image', mime: 'image/png' });
    expect(both.status).toBe(400);
    const status = await s.api('GET', `/v1/messages/media-${n - 2}`);
    expect(status.status).toBe(404);
  });
});

describe('media, hub → provider', () => {
  it('an image from the hub user is verified, re-encrypted, hosted, and decrypts to the same bytes', async () => {
    const file = png(40, 30);
    const { id } = (await s.control('POST', `/users/${ADA}/send`, { to: 'alice@birdy.interop', text: 'look', media: { kind: 'image', mime: 'image/png', data: file.toString('base64'), filename: 'view.png' } })).body as { id: string };
    const e = await eventually(async () => s.receiver.events().find((x) => x.type === 'message.received' && x.data.id === id), 20_000, 'webhook');
    const media = e.data.media as { kind: string; mime: string; size: number; url: string; key: string; nonce: string; sha256: string; enc_sha256: string; filename?: string };
    expect(media).toMatchObject({ kind: 'image', mime: 'image/png', size: file.length, filename: 'view.png', sha256: sha256(file).toString('hex') });
    // The hub sender declared no dimensions: these are measured in the file by the media service.
    expect(media).toMatchObject({ width: 40, height: 30 });
    expect(e.data.text).toBe('look');
    const blob = Buffer.from(await (await fetch(media.url)).arrayBuffer());
    expect(sha256(blob).toString('hex')).toBe(media.enc_sha256);
    const d = createDecipheriv('aes-256-gcm', Buffer.from(media.key, 'base64'), Buffer.from(media.nonce, 'base64'));
    d.setAuthTag(blob.subarray(blob.length - 16));
    const plain = Buffer.concat([d.update(blob.subarray(0, blob.length - 16)), d.final()]);
    expect(plain.equals(file)).toBe(true);
    expect(JSON.stringify(s.receiver.events())).not.toContain(file.toString('base64'));
  });

  for (const [kind, mime, file] of [
    ['voice', 'audio/ogg', oggOpus(1)],
    ['video', 'video/mp4', mp4(32, 32, 800)],
    ['audio', 'audio/mp4', m4a(900)],
    ['document', 'application/pdf', pdf()],
  ] as const) {
    it(`${kind} arrives as ${kind}, byte-identical`, async () => {
      const { id } = (await s.control('POST', `/users/${ADA}/send`, { to: 'alice@birdy.interop', media: { kind, mime, data: file.toString('base64') } })).body as { id: string };
      const e = await eventually(async () => s.receiver.events().find((x) => x.type === 'message.received' && x.data.id === id), 20_000, 'webhook');
      const media = e.data.media as { url: string; key: string; nonce: string };
      expect(e.data.media).toMatchObject({ kind, size: file.length, sha256: sha256(file).toString('hex') });
      const blob = Buffer.from(await (await fetch(media.url)).arrayBuffer());
      const d = createDecipheriv('aes-256-gcm', Buffer.from(media.key, 'base64'), Buffer.from(media.nonce, 'base64'));
      d.setAuthTag(blob.subarray(blob.length - 16));
      expect(Buffer.concat([d.update(blob.subarray(0, blob.length - 16)), d.final()]).equals(file)).toBe(true);
    });
  }
});

describe('406 unsupported-in-interop (spec 4)', () => {
  it('a media kind the hub refuses is downgraded per policy and sent once more', async () => {
    const s2 = await startStack({ users: [{ phone: '+447700900123', name: 'Ada', devices: [0] }], features: { unsupported: ['video'] } });
    try {
      expect((await s2.api('PUT', '/v1/users/alice/interop', { enabled: true })).status).toBe(200);
      const file = mp4(64, 48, 1000);
      const r = await s2.api('POST', '/v1/messages', { from: 'alice', to: ADA, media: { kind: 'video', mime: 'video/mp4', data_base64: file.toString('base64'), filename: 'clip.mp4' } }, { 'idempotency-key': 'v406' });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      const id = r.body.message_id as string;
      const sent = await eventually(async () => s2.receiver.events().find((e) => e.type === 'message.status' && e.data.message_id === id && e.data.state !== 'queued'), 20_000, 'final status');
      expect(sent.data, JSON.stringify(sent.data)).toMatchObject({ state: "sent", downgraded: [{ feature: "video", to: "document" }] });
      const at = await eventually(async () => ((await s2.control('GET', `/users/${ADA}/inbox`)).body as unknown as { messages: Entry[] }).messages.find((m) => m.id === id), 20_000, 'at hub');
      expect(at.decrypted).toBe(true);
      expect(at.content?.media).toMatchObject({ kind: 'document', size: file.length, sha256: sha256(file).toString('hex') });
    } finally {
      await s2.close();
    }
  });
});

describe('a sticker (not carried by the hub)', () => {
  it('is converted to an image per policy, fetched from the provider URL, and arrives byte-identical', async () => {
    const file = png(64, 64);
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(file));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/sticker.png`;
      const r = await s.api('POST', '/v1/messages', { from: 'alice', to: ADA, feature: { name: 'sticker', data: { mime: 'image/png', emoji: '🐱', media: { url } } } }, { 'idempotency-key': 'sticker-1' });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      const id = r.body.message_id as string;
      const st = await eventually(async () => s.receiver.events().find((e) => e.type === 'message.status' && e.data.message_id === id && e.data.state !== 'queued'), 20_000, 'status');
      expect(st.data).toMatchObject({ state: 'sent', downgraded: [{ feature: 'sticker', to: 'image' }] });
      const m = await atHub(id);
      expect(m.content?.media).toMatchObject({ kind: 'image', size: file.length, sha256: sha256(file).toString('hex') });
    } finally {
      server.close();
    }
  });
});

describe('large files uploaded to Causeway (POST /v1/media)', () => {
  it('a 3 MiB video (over the JSON request limit) is streamed in, then sent by upload_id, byte-identical', async () => {
    const { stream, digest } = fakeMp4Stream(3 * 1024 * 1024);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    const file = Buffer.concat(chunks);
    const up = await fetch(`${s.causeway.url}/v1/media?kind=video&filename=big.mp4`, { method: 'POST', headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'video/mp4' }, body: file });
    expect(up.status).toBe(201);
    const { upload_id, size } = (await up.json()) as { upload_id: string; size: number };
    expect(size).toBe(file.length);
    const r = await s.api('POST', '/v1/messages', { from: 'alice', to: ADA, media: { kind: 'video', mime: 'video/mp4', upload_id } }, { 'idempotency-key': 'upload-1' });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const m = await atHub(r.body.message_id as string);
    expect(m.decrypted, m.error).toBe(true);
    expect(m.content?.media).toMatchObject({ kind: 'video', size: file.length, sha256: digest().toString('hex') });
  });

  it('refuses an upload without a kind or with a type its content contradicts, and an unknown upload_id', async () => {
    const noKind = await fetch(`${s.causeway.url}/v1/media`, { method: 'POST', headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'image/png' }, body: png(4, 4) });
    expect(noKind.status).toBe(400);
    const lie = await fetch(`${s.causeway.url}/v1/media?kind=image`, { method: 'POST', headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'image/png' }, body: pdf() });
    expect(lie.status).toBe(422);
    const unknown = await s.api('POST', '/v1/messages', { from: 'alice', to: ADA, media: { kind: 'image', mime: 'image/png', upload_id: 'NOSUCHUPLOAD' } }, { 'idempotency-key': 'upload-x' });
    expect(unknown.status).toBe(422);
    expect((await fetch(`${s.causeway.url}/v1/media?kind=image`, { method: 'POST', body: png(4, 4) })).status).toBe(401);
  });
});
