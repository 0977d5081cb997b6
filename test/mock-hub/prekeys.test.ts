import { describe, expect, it } from 'vitest';
import { PreKeyDirectory, UploadError } from '../../src/mock-hub/prekeys.ts';
import { SimDevice } from '../../src/mock-hub/sim-device.ts';

const U = 'alice@birdy.interop';

describe('provider users prekeys (spec 7.1/7.2)', () => {
  it('requires registration, identity, skey and kyber on the first upload', async () => {
    const d = await SimDevice.create('alice:1@birdy.interop', { oneTimePreKeys: 3, oneTimeKyberPreKeys: 2 });
    const p = new PreKeyDirectory();
    const full = d.uploadPayload();
    const { skey: _skey, ...noSkey } = full;
    expect(() => p.upload(U, noSkey, 10)).toThrow(UploadError);
    expect(p.has(U)).toBe(false);
    expect(p.upload(U, full, 10)).toEqual({ first: true, reset: false });
    expect(p.count(U)).toEqual({ ec: 3, kyber: 2 });
  });

  it('checks signatures and key formats, changing nothing on a bad upload', async () => {
    const d = await SimDevice.create('alice:1@birdy.interop', { oneTimePreKeys: 1, oneTimeKyberPreKeys: 1 });
    const p = new PreKeyDirectory();
    const full = d.uploadPayload();
    const badSig = new Uint8Array(full.skey!.signature);
    badSig[5] = badSig[5]! ^ 0xff;
    expect(() => p.upload(U, { ...full, skey: { ...full.skey!, signature: badSig } }, 10)).toThrow(/signature/);
    const badKyber = new Uint8Array(full.kyber!.signature);
    badKyber[0] = badKyber[0]! ^ 1;
    expect(() => p.upload(U, { ...full, kyber: { ...full.kyber!, signature: badKyber } }, 10)).toThrow(UploadError);
    expect(() => p.upload(U, { ...full, identity: new Uint8Array(33) }, 10)).toThrow(UploadError);
    expect(() => p.upload(U, { ...full, preKeys: [{ id: 2 ** 24, value: full.preKeys![0]!.value }] }, 10)).toThrow(/2\^24/);
    // a Kyber prekey signed by another identity
    const other = (await SimDevice.create('x:1@birdy.interop', { oneTimePreKeys: 0, oneTimeKyberPreKeys: 1 })).uploadPayload();
    expect(() => p.upload(U, { ...full, kyberPreKeys: other.kyberPreKeys! }, 10)).toThrow(UploadError);
    expect(p.has(U)).toBe(false);
    p.upload(U, full, 10);
    expect(p.count(U)).toEqual({ ec: 1, kyber: 1 });
  });

  it('hands one-time keys out once, then the last-resort Kyber prekey and no key', async () => {
    const d = await SimDevice.create('alice:1@birdy.interop', { oneTimePreKeys: 2, oneTimeKyberPreKeys: 1 });
    const p = new PreKeyDirectory();
    const full = d.uploadPayload();
    p.upload(U, full, 10);
    const b1 = p.takeBundle(U)!;
    const b2 = p.takeBundle(U)!;
    const b3 = p.takeBundle(U)!;
    expect(b1.key?.id).toBe(full.preKeys![0]!.id);
    expect(b2.key?.id).toBe(full.preKeys![1]!.id);
    expect(b3.key).toBeUndefined();
    expect(b1.kyber.id).toBe(full.kyberPreKeys![0]!.id);
    expect(b2.kyber.id).toBe(full.kyber!.id);
    expect(b3.kyber.id).toBe(full.kyber!.id);
    expect(p.count(U)).toEqual({ ec: 0, kyber: 0 });
    expect(p.takeBundle('nobody@birdy.interop')).toBeUndefined();
    // the bundles are usable: a peer can start a session from each
    const peer = await SimDevice.create('447700900123:0@hub');
    await peer.startSession('alice:1@birdy.interop', b3);
    expect(await peer.hasSession('alice:1@birdy.interop')).toBe(true);
  });

  it('adds prekeys, detects a reset, and gives the low-prekey notice once until replenished', async () => {
    const d = await SimDevice.create('alice:1@birdy.interop', { oneTimePreKeys: 10, oneTimeKyberPreKeys: 0 });
    const p = new PreKeyDirectory();
    p.upload(U, d.uploadPayload(), 10);
    expect(p.takeLowNotice(U, 10)).toBe(false);
    p.takeBundle(U);
    expect(p.takeLowNotice(U, 10)).toBe(true);
    p.takeBundle(U);
    expect(p.takeLowNotice(U, 10)).toBe(false);
    d.addPreKeys(1, 0);
    const more = d.uploadPayload();
    expect(p.upload(U, { xmlns: 'encrypt', op: 'upload', preKeys: more.preKeys! }, 10)).toEqual({ first: false, reset: false });
    expect(p.count(U).ec).toBe(9);
    p.takeBundle(U);
    expect(p.takeLowNotice(U, 10)).toBe(false);
    d.addPreKeys(5, 0);
    p.upload(U, { xmlns: 'encrypt', op: 'upload', preKeys: d.uploadPayload().preKeys! }, 10);
    expect(p.count(U).ec).toBe(13);
    for (let i = 0; i < 4; i++) p.takeBundle(U);
    expect(p.takeLowNotice(U, 10)).toBe(true);

    const before = p.identity(U);
    await d.resetIdentity();
    const reset = d.uploadPayload();
    expect(() => p.upload(U, { xmlns: 'encrypt', op: 'upload', identity: reset.identity! }, 10)).toThrow(UploadError);
    expect(p.upload(U, reset, 10)).toEqual({ first: false, reset: true });
    expect(p.identity(U)).not.toEqual(before);
    expect(p.count(U).ec).toBe(reset.preKeys!.length);
    p.remove(U);
    expect(p.has(U)).toBe(false);
  });
});
