// Media from a provider user to a hub user through the whole sidecar (issue: media both ways):
// the file is checked by content, encrypted (AES-256-GCM), hosted at a signed URL; the hub user's
// device fetches it through the hub's media proxy and gets byte-identical plaintext.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../delivery/harness.ts';
import { jpeg, oggOpus, pdf, png, sha256 } from '../media/support/fixtures.ts';
import { startStack, type Stack } from './sidecar-stack.ts';

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
