// Audit of the mock hub against HIP/1 (spec 4, 11): cases the other suites do not reach.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeDhash, newId } from '../../src/protocol/index.ts';
import type { AckStanza } from '../../src/protocol/index.ts';
import type { MockHub } from '../../src/mock-hub/index.ts';
import { birdyHubWithAlice, encryptForDevices, inbox, nowS, until } from './helpers.ts';
import type { Party } from './helpers.ts';

const BOB = '15550000101@hub';
const BOB_DEVS = ['15550000101:0@hub', '15550000101:3@hub'];
const ERIN = '15550000102@hub'; // one device
const ERIN_DEV = '15550000102:0@hub';

describe('mock hub audit', () => {
  let h: MockHub;
  let alice: Party;

  beforeAll(async () => {
    ({ h, alice } = await birdyHubWithAlice({
      users: [{ phone: '+15550000101', devices: [0, 3] }, { phone: '+15550000102', devices: [0] }],
      // a configured list adds to the v1 features of spec 11, it does not replace them
      features: { unsupported: ['video'] },
    }));
  });
  afterAll(() => h.close());

  it('spec 11: v1 features stay 406 when features.unsupported is configured, and are announced', async () => {
    const msg = (type: string, mediatype?: string) => ({
      kind: 'message' as const, id: newId(), to: BOB, type, dhash: computeDhash(BOB_DEVS),
      participants: BOB_DEVS.map((jid) => ({ jid, enc: { v: 1 as const, type: 'msg' as const, ciphertext: new Uint8Array([1]), ...(mediatype === undefined ? {} : { mediatype }) } })),
    });
    for (const [type, mediatype, feature] of [['sticker', undefined, 'sticker'], ['media', 'sticker', 'sticker'], ['media', 'video', 'video']] as const) {
      const m = msg(type, mediatype);
      alice.c.send(m);
      expect(await alice.c.wait((s) => s.kind === 'ack' && s.id === m.id)).toMatchObject({ error: 406, reason: 'unsupported-in-interop', unsupported: feature });
    }
    const f = await alice.c.iq('get', { xmlns: 'features', op: 'features' });
    expect(f).toMatchObject({ type: 'result', result: { op: 'features' } });
    const result = (f as { result: { unsupported: string[]; kinds: Array<{ name: string }> } }).result;
    expect(result.unsupported).toEqual(expect.arrayContaining(['sticker', 'reaction', 'call', 'video']));
    expect(result.kinds.map((k) => k.name)).not.toContain('video');
  });

  it('spec 4: the same stanza again (enc/@count on a new id, one device) gets the same ack and is delivered once', async () => {
    const id = newId();
    const t = nowS();
    const [p] = await encryptForDevices(alice, [ERIN_DEV], { id, t, text: 'counted' });
    const stanza = { kind: 'message' as const, id, to: ERIN, type: 'text', t, dhash: computeDhash([ERIN_DEV]), participants: [{ jid: p!.jid, enc: { ...p!.enc, count: 1 } }] };
    alice.c.send(stanza);
    const first = (await alice.c.wait((s) => s.kind === 'ack' && s.id === id)) as AckStanza;
    expect(first.error).toBeUndefined();
    await until(async () => (await inbox(h, ERIN)).some((e) => e['id'] === id) || undefined);
    alice.c.send(stanza);
    const second = (await alice.c.wait((s) => s.kind === 'ack' && s.id === id)) as AckStanza;
    expect(second).toEqual(first);
    await h.core.sim.idle();
    expect((await inbox(h, ERIN)).filter((e) => e['id'] === id)).toHaveLength(1);
  });
});
