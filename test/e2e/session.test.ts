// How the reference client surfaces the hub's refusals (spec 2, 4, 10): upgrade without `hip.1`,
// bad tokens, a newer session for the same user, sending before enlisting, unknown numbers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HipConnection, HipIqError, HipSessionError, HipUpgradeError, generateProviderKey, mintSessionToken,
} from '../../src/mock-hub/reference-client/index.ts';
import { startTestHub } from './helpers.ts';
import type { TestHub } from './helpers.ts';

let t: TestHub;

beforeAll(async () => {
  t = await startTestHub([
    { phone: '+447700900123', name: 'Ada' },
    { phone: '+447700900999', name: 'Shy', third_party: { enabled: false, providers: ['*'] } },
  ]);
});

afterAll(async () => {
  await t?.close();
});

describe('sessions', () => {
  it('is refused at the upgrade without subprotocol hip.1', async () => {
    const err = await HipConnection.connect(t.hub.wsUrl, { protocol: null }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HipUpgradeError);
    expect((err as HipUpgradeError).status).toBe(400);
    const ok = await HipConnection.connect(t.hub.wsUrl);
    expect(ok.protocol).toBe('hip.1');
    ok.close();
    await ok.closed;
  });

  it('gets not-authorized (4401) for a token from an unknown key, and for a replayed jti', async () => {
    const stranger = await generateProviderKey();
    const c = await t.client('henry', { privateJwk: stranger.privateJwk, kid: t.key.kid });
    const err = await c.open().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HipSessionError);
    expect(err).toMatchObject({ reason: 'not-authorized', closeCode: 4401 });

    const token = await mintSessionToken({ providerId: 'birdy', hubId: 'hub', user: 'ivy@birdy.interop', privateJwk: t.key.privateJwk, jti: 'replayed-jti-1' });
    const ivy = await t.client('ivy');
    await ivy.open({ rawToken: token });
    await ivy.close();
    await expect(ivy.open({ rawToken: token })).rejects.toMatchObject({ reason: 'not-authorized', closeCode: 4401 });
    await ivy.open(); // a fresh token works
    expect(ivy.isOpen).toBe(true);
  });

  it('closes the older session with 4409 conflict when the same user opens again', async () => {
    const first = await t.client('jack');
    const second = await t.client('jack');
    await first.open();
    const older = first.connection;
    await second.open();
    expect(await older.closed).toMatchObject({ code: 4409 });
    expect(first.isOpen).toBe(false);
    expect(second.isOpen).toBe(true);
  });
});

describe('directory and enlistment', () => {
  it('answers 403 not-enlisted before enlist, then delivers after', async () => {
    const kim = await t.client('kim');
    await kim.open();
    await kim.uploadKeys();
    const jid = await kim.lookup('+447700900123');
    const before = await kim.sendText(jid, 'too early');
    expect(before.ack).toMatchObject({ error: 403, reason: 'not-enlisted' });
    await kim.enlist();
    const after = await kim.sendText(jid, 'now enlisted');
    expect(after.ack.error).toBeUndefined();
  });

  it('answers lookups of unknown and not opted-in numbers with the same 404', async () => {
    const lee = await t.client('lee');
    await lee.open();
    await lee.uploadKeys();
    await lee.enlist();
    const unknown = await lee.lookup('+447700900000').catch((e: unknown) => e);
    const shy = await lee.lookup('+447700900999').catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(HipIqError);
    expect(shy).toBeInstanceOf(HipIqError);
    expect(unknown).toMatchObject({ op: 'lookup', code: 404 });
    expect((shy as HipIqError).reason).toBe((unknown as HipIqError).reason);
  });
});
