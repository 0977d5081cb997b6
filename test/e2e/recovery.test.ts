// Session recovery end to end: retry receipts in both directions (spec 6.2) and an identity reset
// of a hub user (spec 7.1, 8), with real libsignal sessions on both sides.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestHub } from './helpers.ts';
import type { TestHub } from './helpers.ts';
import { SimDevice } from '../../src/mock-hub/reference-client/index.ts';
import type { ReferenceProviderClient } from '../../src/mock-hub/reference-client/index.ts';

const ADA = '447700900123@hub';
const ADA0 = '447700900123:0@hub';

let t: TestHub;

beforeAll(async () => {
  t = await startTestHub([
    { phone: '+447700900123', name: 'Ada', script: { echo: true } },
    { phone: '+447700900456', name: 'Bob' },
  ]);
});

afterAll(async () => {
  await t?.close();
});

/** A client that is enlisted and has a working session with Ada both ways. */
async function talkingTo(local: string): Promise<ReferenceProviderClient> {
  const c = await t.client(local, { log: true });
  await c.open();
  await c.uploadKeys();
  await c.enlist();
  const { ack } = await c.sendText(ADA, `hello from ${local}`);
  expect(ack.error).toBeUndefined();
  expect((await c.nextMessage(10_000)).content.text).toBe(`echo: hello from ${local}`);
  return c;
}

describe('retry receipts', () => {
  it('a provider client that lost its session asks for a retry and gets the message again', async () => {
    const erin = await talkingTo('erin');
    await erin.device.dropSession(ADA0);

    const { id } = await t.control.expect<{ id: string }>(201, 'POST', `/control/users/${ADA}/send`, { to: 'erin@birdy.interop', text: 'can you read me?' });
    const m = await erin.nextMessage(10_000);
    expect(m.stanza.id).toBe(id);
    expect(m.stanza.enc.count).toBe(1);
    expect(m.stanza.enc.type).toBe('pkmsg');
    expect(m.content.text).toBe('can you read me?');
    expect(erin.stats).toMatchObject({ retriesSent: 1, undecryptable: 1 });
    expect(erin.events).toContainEqual(expect.objectContaining({ type: 'retry-sent', id, from: ADA, participant: ADA0, count: 1 }));
    const retry = erin.frameLog().find((f) => f.dir === 'out' && f.frame.startsWith('<receipt') && f.frame.includes('type="retry"'));
    expect(retry?.frame).toContain(`id="${id}"`);
    expect(retry?.frame).toContain('<registration>');
  });

  it('a hub device that cannot decrypt sends a retry receipt and the client resends with enc/@count', async () => {
    const fay = await talkingTo('fay');
    const ada = t.hub.core.directory.hubUser(ADA);
    expect(ada).toBeDefined();
    await t.hub.core.sim.device(ada!, 0)!.dropSession('fay:1@birdy.interop');

    const { id, ack } = await fay.sendText(ADA, 'second try works');
    expect(ack.error).toBeUndefined();
    const entries = await eventually(async () => {
      const mine = (await t.control.inbox(ADA)).filter((e) => e.id === id);
      return mine.some((e) => e.decrypted) ? mine : undefined;
    }, 'the resent message decrypted at Ada');
    expect(entries[0]).toMatchObject({ decrypted: false });
    expect(entries.find((e) => e.decrypted)).toMatchObject({ count: 1, content: { text: 'second try works' } });
    expect(fay.stats.retriesAnswered).toBe(1);
    const resend = fay.frameLog().filter((f) => f.dir === 'out' && f.frame.startsWith('<message') && f.frame.includes(`id="${id}"`));
    expect(resend).toHaveLength(2);
    expect(resend[1]!.frame).toContain('count="1"');
    expect(resend[1]!.frame).toContain('type="pkmsg"');
    expect((await fay.nextMessage(10_000)).content.text).toBe('echo: second try works');
  });
});

describe('identity reset of a hub user', () => {
  it('notifies the contact, who drops its sessions and starts a fresh one', async () => {
    const gina = await talkingTo('gina');
    await t.control.expect(200, 'POST', `/control/users/${ADA}/identity`, {});
    const note = await gina.nextNotification((n) => n.type === 'identity', 10_000);
    expect(note).toMatchObject({ type: 'identity', from: ADA });
    expect(gina.stats.safetyNumberChanges).toBe(1);
    expect(await gina.device.hasSession(ADA0)).toBe(false);

    const { id, ack } = await gina.sendText(ADA, 'new safety number, still talking');
    expect(ack.error).toBeUndefined();
    const sent = gina.frameLog().find((f) => f.dir === 'out' && f.frame.includes(`id="${id}"`));
    expect(sent?.frame).toContain('type="pkmsg"');
    expect(gina.device.identityChanges).toBe(1);
    expect((await gina.nextMessage(10_000)).content.text).toBe('echo: new safety number, still talking');
    expect(gina.stats.retriesAnswered).toBe(0);
  });
});

describe('one-time prekeys', () => {
  it('tops up after the low-prekey notification (spec 8)', async () => {
    const device = await SimDevice.create('mo:1@birdy.interop', { oneTimePreKeys: 11, oneTimeKyberPreKeys: 11 });
    const mo = await t.client('mo', { device });
    await mo.open();
    await mo.uploadKeys();
    await mo.enlist();
    expect(await mo.preKeyCount()).toEqual({ value: 11, kyber: 11 });

    // Two hub users start sessions with mo: each takes one of his bundles.
    for (const from of [ADA, '447700900456@hub']) {
      await t.control.expect(201, 'POST', `/control/users/${from}/send`, { to: 'mo@birdy.interop', text: `hi from ${from}` });
      expect((await mo.nextMessage(10_000)).content.text).toBe(`hi from ${from}`);
    }
    const low = await mo.nextNotification((n) => n.type === 'encrypt', 10_000);
    expect(low).toMatchObject({ type: 'encrypt', count: { value: 9, kyber: 9 } });
    const counts = await eventually(async () => {
      const c = await mo.preKeyCount();
      return c.value >= 20 ? c : undefined;
    }, 'the top-up upload');
    expect(counts).toEqual({ value: 20, kyber: 20 });
    expect(mo.events.filter((e) => e.type === 'error')).toEqual([]);
  });
});
