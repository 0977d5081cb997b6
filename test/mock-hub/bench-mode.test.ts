// The mock hub's bench mode (docs/benchmarks.md): `simulation.decrypt_sample_rate` (sessions outside
// the sample decrypt only the message that opens them and count the rest), the inbox observer, and
// prepareSend (encrypt now, hand to the hub on release).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeContent } from '../../src/protocol/index.ts';
import type { IncomingMessage } from '../../src/protocol/index.ts';
import type { InboxEntry, MockHub } from '../../src/mock-hub/index.ts';
import { hub, party, providerKeys, sendText, until, birdy } from './helpers.ts';
import type { Party, ProviderKeys } from './helpers.ts';

const BOB = '15550000001@hub';

async function setUp(rate: number | undefined): Promise<{ h: MockHub; alice: Party; keys: ProviderKeys }> {
  const keys = await providerKeys();
  const h = await hub({
    providers: [birdy(keys)],
    users: [{ phone: '+15550000001', name: 'Bob', devices: [0], script: { receipts: false } }],
    ...(rate === undefined ? {} : { simulation: { decrypt_sample_rate: rate } }),
  });
  return { h, keys, alice: await party(h, keys, 'alice@birdy.interop') };
}

describe('bench mode: decrypt_sample_rate 0', () => {
  let h: MockHub;
  let alice: Party;
  beforeAll(async () => ({ h, alice } = await setUp(0)));
  afterAll(async () => h.close());

  it('decrypts the message that opens a session, then counts without decrypting', async () => {
    const seen: InboxEntry[] = [];
    const stop = h.core.sim.onInbox((jid, e) => {
      if (jid === BOB) seen.push(e);
    });
    for (const text of ['one', 'two', 'three']) expect((await sendText(alice, BOB, [0], text)).error).toBeUndefined();
    await until(() => seen.length === 3 || undefined);
    stop();
    expect(seen.map((e) => ({ decrypted: e.decrypted, skipped: e.skipped === true, text: e.content?.text }))).toEqual([
      { decrypted: true, skipped: false, text: 'one' },
      { decrypted: false, skipped: true, text: undefined },
      { decrypted: false, skipped: true, text: undefined },
    ]);
    expect(seen.every((e) => e.error === undefined && e.received_at_ms >= e.sent_at_ms)).toBe(true);
    expect(h.core.sim.inbox(BOB)).toHaveLength(3);
  });
});

describe('bench mode off (the default)', () => {
  let h: MockHub;
  let alice: Party;
  beforeAll(async () => ({ h, alice } = await setUp(undefined)));
  afterAll(async () => h.close());

  it('decrypts every message', async () => {
    for (const text of ['one', 'two', 'three']) await sendText(alice, BOB, [0], text);
    const entries = await until(() => (h.core.sim.inbox(BOB).length === 3 ? h.core.sim.inbox(BOB) : undefined));
    expect(entries.map((e) => [e.decrypted, e.skipped, e.content?.text])).toEqual([[true, undefined, 'one'], [true, undefined, 'two'], [true, undefined, 'three']]);
  });

  it('prepareSend encrypts now and hands the message to the hub only on release', async () => {
    const bob = h.core.directory.hubUser(BOB);
    if (!bob) throw new Error('no Bob');
    const p = await h.core.sim.prepareSend(bob, { to: alice.jid, text: 'held back' });
    if (!p.ok) throw new Error(p.error);
    await new Promise((r) => setTimeout(r, 200));
    expect(alice.c.received.some((s) => s.kind === 'message' && s.id === p.id)).toBe(false);
    p.release();
    const m = (await alice.c.wait((s) => s.kind === 'message' && s.id === p.id)) as IncomingMessage;
    expect(decodeContent(await alice.device.decrypt(m.participant, m.enc)).text).toBe('held back');
  });
});
