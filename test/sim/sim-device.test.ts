// SimDevice: two real libsignal clients talking PQXDH + double ratchet through in-memory stores.
import { describe, expect, it } from 'vitest';
import { SimDecryptError, SimDevice } from '../../src/mock-hub/sim-device.ts';

const ALICE = 'alice:1@birdy.interop';
const HUB = '447700900123:0@hub';
const enc = new TextEncoder();
const dec = new TextDecoder();

async function pair(): Promise<{ alice: SimDevice; hub: SimDevice }> {
  const alice = await SimDevice.create(ALICE);
  const hub = await SimDevice.create(HUB);
  await alice.startSession(HUB, hub.takeBundle());
  return { alice, hub };
}

describe('SimDevice', () => {
  it('starts a session from a bundle, sends a pkmsg, and gets a msg reply', async () => {
    const { alice, hub } = await pair();
    expect(await alice.hasSession(HUB)).toBe(true);
    expect(await hub.hasSession(ALICE)).toBe(false);

    const first = await alice.encrypt(HUB, enc.encode('Hello from BirdyChat'));
    expect(first.type).toBe('pkmsg');
    expect(dec.decode(await hub.decrypt(ALICE, first))).toBe('Hello from BirdyChat');
    expect(await hub.hasSession(ALICE)).toBe(true);

    const reply = await hub.encrypt(ALICE, enc.encode('echo: Hello from BirdyChat'));
    expect(reply.type).toBe('msg');
    expect(dec.decode(await alice.decrypt(HUB, reply))).toBe('echo: Hello from BirdyChat');

    // After the reply, alice's messages are plain SignalMessages.
    const next = await alice.encrypt(HUB, enc.encode('second'));
    expect(next.type).toBe('msg');
    expect(dec.decode(await hub.decrypt(ALICE, next))).toBe('second');
  });

  it('keeps exact bytes over many messages both ways, including out-of-order delivery', async () => {
    const { alice, hub } = await pair();
    for (let round = 0; round < 20; round++) {
      const a = Uint8Array.from({ length: 50 + round }, (_, i) => (i * 7 + round) & 0xff);
      expect(await hub.decrypt(ALICE, await alice.encrypt(HUB, a))).toEqual(a);
      const b = enc.encode(`reply ${round} ✓`);
      expect(dec.decode(await alice.decrypt(HUB, await hub.encrypt(ALICE, b)))).toBe(`reply ${round} ✓`);
    }
    const batch = [];
    for (let i = 0; i < 5; i++) batch.push(await alice.encrypt(HUB, enc.encode(`batch ${i}`)));
    for (const i of [3, 0, 4, 1, 2]) expect(dec.decode(await hub.decrypt(ALICE, batch[i]!))).toBe(`batch ${i}`);
  });

  it('rejects a replayed message with SimDecryptError', async () => {
    const { alice, hub } = await pair();
    const m = await alice.encrypt(HUB, enc.encode('once'));
    await hub.decrypt(ALICE, m);
    await expect(hub.decrypt(ALICE, m)).rejects.toBeInstanceOf(SimDecryptError);
  });

  it('consumes one-time prekeys: different ids, falling counts, then no key and the last-resort kyber', async () => {
    const hub = await SimDevice.create(HUB, { oneTimePreKeys: 2, oneTimeKyberPreKeys: 2 });
    expect(hub.preKeyCounts()).toEqual({ ec: 2, kyber: 2 });
    const b1 = hub.takeBundle();
    const b2 = hub.takeBundle();
    expect(b1.key).toBeDefined();
    expect(b2.key).toBeDefined();
    expect(b1.key!.id).not.toBe(b2.key!.id);
    expect(b1.kyber.id).not.toBe(b2.kyber.id);
    expect(hub.preKeyCounts()).toEqual({ ec: 0, kyber: 0 });
    const b3 = hub.takeBundle();
    const b4 = hub.takeBundle();
    expect(b3.key).toBeUndefined();
    expect(b3.kyber.id).toBe(b4.kyber.id); // the last-resort Kyber prekey
    expect([b1.kyber.id, b2.kyber.id]).not.toContain(b3.kyber.id);
    expect(b3.identity).toEqual(hub.identityKey());
    expect(b3.registration).toBe(hub.registrationId);

    // Every one of these bundles still starts a working session.
    for (const [i, b] of [b1, b2, b3, b4].entries()) {
      const peer = `p${i}@birdy.interop`;
      const d = await SimDevice.create(peer);
      await d.startSession(HUB, b);
      const m = await d.encrypt(HUB, enc.encode(`via bundle ${i}`));
      expect(dec.decode(await hub.decrypt(peer, m))).toBe(`via bundle ${i}`);
    }

    hub.addPreKeys(3, 1);
    expect(hub.preKeyCounts()).toEqual({ ec: 3, kyber: 1 });
  });

  it('uploads its keys once, then only new one-time prekeys', async () => {
    const d = await SimDevice.create(ALICE, { oneTimePreKeys: 3, oneTimeKyberPreKeys: 2 });
    const up = d.uploadPayload();
    expect(up.registration).toBe(d.registrationId);
    expect(up.identity).toEqual(d.identityKey());
    expect(up.identity!.length).toBe(33);
    expect(up.preKeys).toHaveLength(3);
    expect(up.kyberPreKeys).toHaveLength(2);
    expect(up.skey!.signature.length).toBe(64);
    expect(d.uploadPayload().preKeys).toHaveLength(0);
    d.addPreKeys(2, 0);
    const again = d.uploadPayload();
    expect(again.preKeys).toHaveLength(2);
    expect(new Set([...up.preKeys!, ...again.preKeys!].map((k) => k.id)).size).toBe(5);
    // A bundle taken after an upload prefers keys the hub was never given (retry receipts, spec 6.2).
    d.addPreKeys(1, 1);
    const fresh = d.takeBundle();
    expect(up.preKeys!.map((k) => k.id).concat(again.preKeys!.map((k) => k.id))).not.toContain(fresh.key!.id);
  });

  it('works again after resetIdentity, with a new identity and registration', async () => {
    const { alice, hub } = await pair();
    await hub.decrypt(ALICE, await alice.encrypt(HUB, enc.encode('before')));
    const oldIdentity = hub.identityKey();
    const oldBundle = hub.takeBundle();
    await hub.resetIdentity();
    expect(hub.identityKey()).not.toEqual(oldIdentity);
    expect(await hub.hasSession(ALICE)).toBe(false);
    expect(hub.preKeyCounts()).toEqual({ ec: 20, kyber: 20 });

    // The old session is useless now.
    await expect(hub.decrypt(ALICE, await alice.encrypt(HUB, enc.encode('stale')))).rejects.toBeInstanceOf(SimDecryptError);
    // So is a bundle of the old identity.
    const late = await SimDevice.create('late@birdy.interop');
    await late.startSession(HUB, oldBundle);
    await expect(hub.decrypt('late@birdy.interop', await late.encrypt(HUB, enc.encode('x')))).rejects.toBeInstanceOf(SimDecryptError);

    await alice.dropSession(HUB);
    expect(await alice.hasSession(HUB)).toBe(false);
    expect(alice.identityChanges).toBe(0);
    await alice.startSession(HUB, hub.takeBundle());
    expect(alice.identityChanges).toBe(1); // "safety number changed", accepted
    const m = await alice.encrypt(HUB, enc.encode('after reset'));
    expect(m.type).toBe('pkmsg');
    expect(dec.decode(await hub.decrypt(ALICE, m))).toBe('after reset');
    expect(dec.decode(await alice.decrypt(HUB, await hub.encrypt(ALICE, enc.encode('ok'))))).toBe('ok');
  });

  it('throws SimDecryptError for tampered ciphertext, garbage, a missing session, and skmsg', async () => {
    const { alice, hub } = await pair();
    const first = await alice.encrypt(HUB, enc.encode('first'));
    const tampered = Uint8Array.from(first.ciphertext);
    tampered[tampered.length - 5]! ^= 0x01;
    const err = await hub.decrypt(ALICE, { type: 'pkmsg', ciphertext: tampered }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SimDecryptError);
    expect((err as SimDecryptError).peer).toBe(ALICE);
    expect((err as SimDecryptError).encType).toBe('pkmsg');
    // The untampered message still decrypts afterwards.
    expect(dec.decode(await hub.decrypt(ALICE, first))).toBe('first');

    const reply = await hub.encrypt(ALICE, enc.encode('reply'));
    const t2 = Uint8Array.from(reply.ciphertext);
    t2[10]! ^= 0x80;
    await expect(alice.decrypt(HUB, { type: 'msg', ciphertext: t2 })).rejects.toBeInstanceOf(SimDecryptError);
    await expect(alice.decrypt(HUB, { type: 'msg', ciphertext: new Uint8Array([1, 2, 3]) })).rejects.toBeInstanceOf(SimDecryptError);
    await expect(alice.decrypt('nobody@hub', reply)).rejects.toBeInstanceOf(SimDecryptError);
    await expect(alice.decrypt(HUB, { type: 'skmsg', ciphertext: reply.ciphertext })).rejects.toBeInstanceOf(SimDecryptError);
    await expect(alice.encrypt('nobody:0@hub', enc.encode('x'))).rejects.toThrow(/no session/);
  });

  it('serializes 50 concurrent encrypts to one peer so that all decrypt in order', async () => {
    const { alice, hub } = await pair();
    await hub.decrypt(ALICE, await alice.encrypt(HUB, enc.encode('hello')));
    await alice.decrypt(HUB, await hub.encrypt(ALICE, enc.encode('hi')));
    const texts = Array.from({ length: 50 }, (_, i) => `concurrent ${i}`);
    const sent = await Promise.all(texts.map((t) => alice.encrypt(HUB, enc.encode(t))));
    const got: string[] = [];
    for (const m of sent) got.push(dec.decode(await hub.decrypt(ALICE, m)));
    expect(got).toEqual(texts);

    // And concurrent decrypts on the other side, both directions at once.
    const back = await Promise.all(texts.map((t) => hub.encrypt(ALICE, enc.encode(`re ${t}`))));
    const decoded = await Promise.all(back.map((m) => alice.decrypt(HUB, m)));
    expect(decoded.map((b) => dec.decode(b))).toEqual(texts.map((t) => `re ${t}`));
  });

  it('starts with pkmsgs concurrently (first contact, 20 at once) and all decrypt', async () => {
    const { alice, hub } = await pair();
    const sent = await Promise.all(Array.from({ length: 20 }, (_, i) => alice.encrypt(HUB, enc.encode(`pk ${i}`))));
    expect(sent.every((m) => m.type === 'pkmsg')).toBe(true);
    const got = await Promise.all(sent.map((m) => hub.decrypt(ALICE, m)));
    expect(got.map((b) => dec.decode(b))).toEqual(Array.from({ length: 20 }, (_, i) => `pk ${i}`));
  });
});
