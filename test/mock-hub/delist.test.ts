// Leftovers of the mock hub's audit:
// - spec 10: a provider user who delisted is no longer reachable; a stanza a simulated hub user
//   sends it late (a read receipt after the script's delay, a retry receipt or resend) is dropped,
//   not stored for it (nor pushed), while `providers` notifications (spec 8) still reach open
//   sessions of users who are not enlisted;
// - a media blob hosted for a control-API send that fails afterwards (content spec 11 refuses,
//   a frame too large) is removed again from the media store.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { MockHub } from '../../src/mock-hub/index.ts';
import type { ReceiptStanza, Stanza } from '../../src/protocol/index.ts';
import { birdyHubWithAlice, control, party, sendText } from './helpers.ts';
import type { Party, ProviderKeys } from './helpers.ts';

const BOB = '15550000301@hub';
const CAROL = '15550000302@hub';
const ALICE = 'alice@birdy.interop';
const DAVE = 'dave@birdy.interop';

describe('late stanzas from simulated users to a provider user who delisted', () => {
  let h: MockHub;
  let keys: ProviderKeys;
  let alice: Party;

  beforeAll(async () => {
    ({ h, keys, alice } = await birdyHubWithAlice({
      // Bob reads what he gets, some time later (the read receipt comes after the delay).
      users: [{ phone: '+15550000301', devices: [0], script: { receipts: false, read: true, echo: false, delay_ms: 400 } }],
    }));
  });
  afterAll(() => h.close());

  const offline = async (jid: string): Promise<number> => (await control(h, 'GET', `/control/provider-users/${jid}`)).json['offline'] as number;

  it('are dropped: nothing is stored for the user', async () => {
    // What the simulated users hand to the hub for provider users, as they hand it.
    const spy = vi.spyOn(h.core, 'routeToProvider');
    const routed = (): Stanza[] => spy.mock.calls.map((c) => c[1]);
    try {
      const ack = await sendText(alice, BOB, [0], 'read me later');
      expect(ack.error).toBeUndefined();
      const inbox = async () => ((await control(h, 'GET', `/control/users/${BOB}/inbox`)).json['messages'] as Array<{ id: string; decrypted: boolean }>);
      await vi.waitFor(async () => expect((await inbox()).find((m) => m.id === ack.id)?.decrypted).toBe(true), { timeout: 10_000, interval: 20 });
      // Alice delists and goes away before Bob's read receipt leaves.
      expect((await alice.c.iq('set', { xmlns: 'interop', op: 'delist' })).type).toBe('result');
      alice.c.close();
      await alice.c.closed;
      await vi.waitFor(() => expect(routed().some((s) => s.kind === 'receipt' && (s as ReceiptStanza).type === 'read' && s.id === ack.id)).toBe(true), { timeout: 10_000, interval: 20 });
      expect(await offline(ALICE)).toBe(0);
      expect(h.core.mailboxes.pending(ALICE)).toBe(0);
    } finally {
      spy.mockRestore();
    }
  });

  it('still lets `providers` notifications reach the open session of a user who is not enlisted', async () => {
    const dave = await party(h, keys, DAVE, { enlist: false });
    const r = await control(h, 'POST', '/control/providers', { id: 'haiket', name: 'Haiket', jwks: { keys: [keys.publicJwk] } });
    expect(r.status).toBe(201);
    expect(await dave.c.wait((s) => s.kind === 'notification' && s.type === 'providers')).toMatchObject({ providers: [{ id: 'haiket', name: 'Haiket' }] });
    dave.c.close();
  });
});

describe('media hosted for a send that fails', () => {
  let h: MockHub;

  beforeAll(async () => {
    ({ h } = await birdyHubWithAlice({ users: [{ phone: '+15550000302', devices: [0] }] }));
  });
  afterAll(() => h.close());

  const send = (to: string, media: Record<string, unknown>, text?: string) =>
    control(h, 'POST', `/control/users/${CAROL}/send`, { to, ...(text === undefined ? {} : { text }), media: { kind: 'image', mime: 'image/png', data: Buffer.from('png bytes').toString('base64'), ...media } });

  it('is removed when the content is refused (400)', async () => {
    expect(h.core.media.size).toBe(0);
    expect(await send(ALICE, { mime: 'not a mime' })).toMatchObject({ status: 400, json: { field: 'media.mime' } });
    expect(h.core.media.size).toBe(0);
  });

  it('is removed when the message would not fit in a frame (413)', async () => {
    // 65,536 code points is valid text (spec 11), but every "<" is written as "&lt;": over 256 KiB
    expect(await send(ALICE, {}, '<'.repeat(65_536))).toMatchObject({ status: 413 });
    expect(h.core.media.size).toBe(0);
  });

  it('is kept for a message that is sent', async () => {
    expect(await send(ALICE, {})).toMatchObject({ status: 201 });
    expect(h.core.media.size).toBe(1);
  });
});
