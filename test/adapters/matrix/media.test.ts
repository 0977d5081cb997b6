// Media both ways through the Matrix adapter: a matrix-js-sdk client (Rust crypto) sends encrypted
// attachments (encrypted with WebCrypto by the test, as Element does) into an encrypted portal and
// they reach the hub user's device byte-identical (hashes compared); the hub user's image, voice
// message and document are decrypted (Megolm event, then the attachment) and downloaded by the
// client byte-identical; tampered, oversized and undownloadable attachments are refused with a
// failure status and a notice; an unencrypted portal uses plain `url`s both ways.
import type { MatrixClient, MatrixEvent } from 'matrix-js-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../delivery/harness.ts';
import { oggOpus, pdf, png } from '../../media/support/fixtures.ts';
import { download, downloadDecrypted, sha256hex, uploadEncrypted } from './support/attachments.ts';
import { matrixHarness, openPortal as openPortalAs, SERVER, timelineEvent, type Harness } from './support/bridge-harness.ts';

const ADA = '447700900123@hub';
const BOB = '447700900124@hub';
const PUPPET = `@hub_447700900123:${SERVER}`;
const BOB_PUPPET = `@hub_447700900124:${SERVER}`;
const LIMIT = 1024 * 1024;
type Entry = { id: string; device: number; decrypted: boolean; error?: string; content?: { text?: string; media?: { kind: string; mime: string; size: number; sha256: string; filename?: string } } };

let h: Harness;
let alice: MatrixClient;
let portal: string;
let plainPortal: string;
const script = { echo: false, receipts: false, read: false, delay_ms: 0 };

const openPortal = (puppet: string, encrypted: boolean): Promise<string> => openPortalAs(alice, h.hs, puppet, { encrypted });

beforeAll(async () => {
  h = await matrixHarness({
    hubUsers: { users: [{ phone: '+447700900123', name: 'Ada', devices: [0], script }, { phone: '+447700900124', name: 'Bob', devices: [0], script }] },
    config: { max_media_bytes: LIMIT, send_statuses: 'all' },
  });
  alice = await h.client('alice');
  await h.core.setInterop('matrix', 'alice', true);
  portal = await openPortal(PUPPET, true);
  plainPortal = await openPortal(BOB_PUPPET, false);
}, 60_000);
afterAll(() => h?.close());

const inbox = async (jid: string) => ((await h.control('GET', `/users/${jid}/inbox`)).body as unknown as { messages: Entry[] }).messages;
const atHub = (jid: string, sha: string) =>
  eventually(async () => (await inbox(jid)).find((m) => m.content?.media?.sha256 === sha), 20_000, `media ${sha.slice(0, 8)} at the hub`);
const statusOf = (room: string, eventId: string, status: string) =>
  timelineEvent(alice, room, (e) => e.getType() === 'com.beeper.message_send_status' && e.getContent()['m.relates_to']?.event_id === eventId && e.getContent().status === status);
const mediaIdOf = (mxc: string) => mxc.split('/').pop() as string;

describe('Matrix → hub', () => {
  for (const [name, msgtype, extra, file, mime, kind] of [
    ['an image', 'm.image', { filename: 'dot.png', body: 'a dot, captioned' }, png(32, 24), 'image/png', 'image'],
    ['a voice message', 'm.audio', { body: 'Voice message', 'org.matrix.msc3245.voice': {}, 'org.matrix.msc1767.audio': { duration: 2000, waveform: [] } }, oggOpus(2), 'audio/ogg', 'voice'],
    ['a file', 'm.file', { body: 'report.pdf' }, pdf(), 'application/pdf', 'document'],
  ] as const) {
    it(`${name} in an encrypted room reaches the hub device byte-identical (as ${kind})`, async () => {
      const encFile = await uploadEncrypted(alice, file);
      // The homeserver holds ciphertext only.
      expect(h.hs.state.media.get(mediaIdOf(String(encFile.url)))?.data.equals(file)).toBe(false);
      const { event_id: eventId } = await alice.sendMessage(portal, { msgtype, ...extra, info: { mimetype: mime, size: file.length }, file: encFile } as never);
      const m = await atHub(ADA, sha256hex(file));
      expect(m.decrypted, m.error).toBe(true);
      expect(m.content?.media).toMatchObject({ kind, size: file.length });
      if (kind === 'image') expect(m.content?.media?.filename).toBe('dot.png');
      if (kind === 'document') expect(m.content?.media?.filename).toBe('report.pdf');
      await statusOf(portal, eventId, 'SUCCESS');
      // The bridge fetched it as the puppet from the authenticated endpoint.
      expect(h.hs.media.downloads.filter((d) => d.id === mediaIdOf(String(encFile.url)))).toEqual([{ id: mediaIdOf(String(encFile.url)), endpoint: 'v1', userId: PUPPET }]);
    });
  }

  it('an unencrypted image (`url`) in an unencrypted room arrives byte-identical', async () => {
    const file = png(20, 10);
    const up = await alice.uploadContent(new Blob([file]), { type: 'image/png', name: 'plain.png' });
    await alice.sendMessage(plainPortal, { msgtype: 'm.image', body: 'plain.png', url: up.content_uri, info: { mimetype: 'image/png', size: file.length } } as never);
    const m = await atHub(BOB, sha256hex(file));
    expect(m.content?.media).toMatchObject({ kind: 'image', size: file.length, filename: 'plain.png' });
  });

  it('falls back to the legacy download endpoint on a homeserver without authenticated media', async () => {
    const file = png(12, 12);
    const encFile = await uploadEncrypted(alice, file);
    h.hs.media.legacyOnly = true;
    try {
      await alice.sendMessage(portal, { msgtype: 'm.image', body: 'old.png', info: { mimetype: 'image/png' }, file: encFile } as never);
      await atHub(ADA, sha256hex(file));
    } finally {
      h.hs.media.legacyOnly = false;
    }
    expect(h.hs.media.downloads.filter((d) => d.id === mediaIdOf(String(encFile.url))).map((d) => d.endpoint)).toEqual(['v3']);
  });

  it('refuses a tampered attachment: a certain failure status and a notice, nothing at the hub', async () => {
    const file = png(16, 16);
    const encFile = await uploadEncrypted(alice, file);
    const stored = h.hs.state.media.get(mediaIdOf(String(encFile.url)));
    if (!stored) throw new Error('not uploaded');
    stored.data.writeUInt8((stored.data.at(-1) as number) ^ 0x01, stored.data.length - 1); // one bit flipped on the server
    const { event_id: eventId } = await alice.sendMessage(portal, { msgtype: 'm.image', body: 'evil.png', info: { mimetype: 'image/png' }, file: encFile } as never);
    const status = await statusOf(portal, eventId, 'FAIL_PERMANENT');
    expect(status.getContent()).toMatchObject({ error: 'media-failed', certain: true });
    expect(String(status.getContent().message)).toMatch(/does not match its hash/);
    await timelineEvent(alice, portal, (e) => e.getSender() === PUPPET && /was not delivered: the attachment could not be sent/.test(String(e.getContent().body)));
    expect(await h.core.statuses('matrix', eventId)).toBeUndefined();
    expect((await inbox(ADA)).some((m) => m.content?.media?.sha256 === sha256hex(file))).toBe(false);
  });

  it('passes on the core refusal of a file that is not what it claims (a PDF sent as an image)', async () => {
    const { event_id: eventId } = await alice.sendMessage(portal, { msgtype: 'm.image', body: 'fake.png', info: { mimetype: 'image/png' }, file: await uploadEncrypted(alice, pdf()) } as never);
    const status = await statusOf(portal, eventId, 'FAIL_PERMANENT');
    expect(status.getContent()).toMatchObject({ error: 'bad-request', certain: true });
    expect(String(status.getContent().message)).toMatch(/^media /);
  });

  it('refuses an attachment over the cap without downloading it, and a missing one', async () => {
    const encFile = await uploadEncrypted(alice, pdf());
    const { event_id: big } = await alice.sendMessage(portal, { msgtype: 'm.file', body: 'huge.pdf', info: { mimetype: 'application/pdf', size: LIMIT + 1 }, file: encFile } as never);
    expect((await statusOf(portal, big, 'FAIL_PERMANENT')).getContent()).toMatchObject({ error: 'too-large', reason: 'm.event_too_large' });
    expect(h.hs.media.downloads.some((d) => d.id === mediaIdOf(String(encFile.url)))).toBe(false);
    const gone = { ...encFile, url: `mxc://${SERVER}/doesnotexist` };
    const { event_id: missing } = await alice.sendMessage(portal, { msgtype: 'm.file', body: 'gone.pdf', info: { mimetype: 'application/pdf' }, file: gone } as never);
    expect(String((await statusOf(portal, missing, 'FAIL_PERMANENT')).getContent().message)).toMatch(/could not be downloaded/);
  });
});

describe('hub → Matrix', () => {
  const fromHub = async (to: string, hubUser: string, media: Record<string, unknown>, text?: string) =>
    (await h.control('POST', `/users/${hubUser}/send`, { to, ...(text ? { text } : {}), media })).body as { id: string };
  const received = (room: string, pred: (e: MatrixEvent) => boolean) => timelineEvent(alice, room, (e) => e.getSender() !== `@alice:${SERVER}` && pred(e));

  for (const [name, kind, mime, file, filename, msgtype] of [
    ['an image', 'image', 'image/png', png(40, 30), 'view.png', 'm.image'],
    ['a voice message', 'voice', 'audio/ogg', oggOpus(1), undefined, 'm.audio'],
    ['a document', 'document', 'application/pdf', pdf(), 'minutes.pdf', 'm.file'],
  ] as const) {
    it(`${name} is decrypted and downloaded by the Matrix client byte-identical`, async () => {
      await fromHub('alice@birdy.interop', ADA, { kind, mime, data: file.toString('base64'), ...(filename ? { filename } : {}) }, kind === 'image' ? 'look at this' : undefined);
      const ev = await received(portal, (e) => e.getContent().msgtype === msgtype && typeof e.getContent().file === 'object' && e.getContent().info?.size === file.length);
      expect(ev.isEncrypted()).toBe(true);
      const c = ev.getContent();
      expect(c.url).toBeUndefined();
      const plain = await downloadDecrypted(alice, h.hs.url, c.file as Record<string, unknown>);
      expect(sha256hex(plain)).toBe(sha256hex(file));
      // Uploaded by the puppet (appservice masquerading), ciphertext only on the homeserver.
      const stored = h.hs.state.media.get(mediaIdOf(String((c.file as { url: string }).url)));
      expect(stored?.uploader).toBe(PUPPET);
      expect(stored?.data.equals(file)).toBe(false);
      expect(c.info).toMatchObject({ size: file.length });
      expect(String(c.info.mimetype).startsWith(mime)).toBe(true); // the checked type may add parameters (codecs=opus)
      if (kind === 'image') expect(c).toMatchObject({ body: 'look at this', filename: 'view.png' });
      if (kind === 'voice') {
        expect(c['org.matrix.msc3245.voice']).toEqual({});
        expect(c['org.matrix.msc1767.audio']).toMatchObject({ waveform: [] });
        expect(typeof (c['org.matrix.msc1767.audio'] as { duration: unknown }).duration).toBe('number');
      }
      if (kind === 'document') expect(c).toMatchObject({ body: 'minutes.pdf', filename: 'minutes.pdf' });
    });
  }

  it('an image into an unencrypted portal is a plain `url` upload', async () => {
    const file = png(8, 8);
    await fromHub('alice@birdy.interop', BOB, { kind: 'image', mime: 'image/png', data: file.toString('base64'), filename: 'bob.png' });
    const ev = await received(plainPortal, (e) => e.getContent().msgtype === 'm.image' && e.getContent().body === 'bob.png');
    expect(ev.isEncrypted()).toBe(false);
    expect(sha256hex(await download(alice, h.hs.url, String(ev.getContent().url)))).toBe(sha256hex(file));
  });

  it('a file the homeserver does not accept is announced as text, not lost', async () => {
    const file = pdf();
    h.hs.media.maxUploadBytes = 10;
    try {
      await fromHub('alice@birdy.interop', ADA, { kind: 'document', mime: 'application/pdf', data: file.toString('base64'), filename: 'toolarge.pdf' }, 'the agenda');
      const ev = await received(portal, (e) => /toolarge\.pdf/.test(String(e.getContent().body)));
      expect(ev.getContent()).toMatchObject({ msgtype: 'm.text' });
      expect(String(ev.getContent().body)).toMatch(/^the agenda\n\n\[document: toolarge\.pdf — not shown here: larger than the homeserver accepts\]$/);
    } finally {
      h.hs.media.maxUploadBytes = 50 * 1024 * 1024;
    }
  });
});
