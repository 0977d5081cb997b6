// Which failures make a hub message "undecryptable" (inbound.ts isUndecryptable): acked, answered
// with a retry receipt and reported, so the hub does NOT redeliver it. A whitelist of errors about
// the ciphertext; any other failure is ours and leaves the message unacked, so the hub redelivers
// it — an unexpected kind of error (a bug, a store failing with an error class nobody listed, also
// inside libsignal, which wraps a store's error in one of its own) must not ack and lose it.
// Driven directly by stanzas from a simulated hub device, on a real Redis (as inbound-edge.test.ts).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncomingMessage } from '../../src/protocol/index.ts';
import { until } from './harness.ts';
import { inboundRig, USER, type HubDevice } from './inbound-rig.ts';

const rig = inboundRig();
const { acks, retries, receipted, reported, handle, delivered, outcomes, edge, accounts } = rig;
const hubDevice = (device: number, skeyId?: number) => rig.hubDevice(device, skeyId === undefined ? {} : { skeyId });
const fromHub = (d: HubDevice, text: string, plaintext?: Uint8Array) => rig.fromHub(d, text, plaintext ? { plaintext } : {});

/** Left to the hub: not acked, no retry receipt, not reported; its redelivery is delivered once. */
async function redeliveredAndDelivered(m: IncomingMessage, text: string): Promise<void> {
  expect(acks(m.id)).toBe(0);
  expect(retries(m.id)).toBe(0);
  expect(reported(m.id)).toBe(false);
  await handle(m);
  await until(() => receipted(m.id), 10_000, 'delivered on redelivery');
  expect(delivered.filter((d) => d.id === m.id).map((d) => d.text)).toEqual([text]);
  expect(acks(m.id)).toBe(1);
}
/** Undecryptable: acked, a retry receipt, reported, nothing delivered. */
function undecryptable(m: IncomingMessage): void {
  expect(acks(m.id)).toBe(1);
  expect(retries(m.id)).toBe(1);
  expect(reported(m.id)).toBe(true);
  expect(delivered.some((d) => d.id === m.id)).toBe(false);
}

let ada: HubDevice;
beforeAll(async () => {
  await rig.start();
  ada = await hubDevice(3);
  const first = await fromHub(ada, 'first');
  await handle(first);
  await until(() => receipted(first.id), 10_000, 'first delivered');
  // Alice answers, so that Ada's device sends plain Signal messages (`msg`) from now on.
  await rig.answer(ada);
});
afterAll(() => rig.close());

describe('an error that does not say the ciphertext is bad leaves the message to the hub', () => {
  it('a plain Error (a bug, an unlisted failure) is not acked; the redelivery is delivered', async () => {
    const m = await fromHub(ada, 'survives a bug');
    edge.failNext = new Error('something nobody listed');
    const before = outcomes.filter((o) => o === 'not-handled').length;
    await handle(m);
    // Counted, for an alert on a message that keeps failing.
    expect(outcomes.filter((o) => o === 'not-handled').length).toBe(before + 1);
    await redeliveredAndDelivered(m, 'survives a bug');
  });

  it('a store failing inside libsignal (its error wrapped as a libsignal error) is not acked either', async () => {
    const d = await hubDevice(4); // a new device: its first message is a PreKey message, which reads our signed prekey
    const m = await fromHub(d, 'survives a store failure');
    expect(m.enc.type).toBe('pkmsg');
    const spk = Object.getPrototypeOf(accounts.store(USER).signedPreKeys) as { getSignedPreKey: (id: number) => Promise<unknown> };
    const read = spk.getSignedPreKey;
    spk.getSignedPreKey = () => Promise.reject(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    try {
      await handle(m);
    } finally {
      spk.getSignedPreKey = read;
    }
    await redeliveredAndDelivered(m, 'survives a store failure');
  });
});

describe('an error about the ciphertext makes it undecryptable', () => {
  it('a tampered ciphertext is acked, answered with a retry receipt and reported', async () => {
    const m = await fromHub(ada, 'tampered');
    expect(m.enc.type).toBe('msg');
    const c = Uint8Array.from(m.enc.ciphertext);
    c[c.length - 3] = (c[c.length - 3] as number) ^ 1; // in the MAC
    await handle({ ...m, enc: { ...m.enc, ciphertext: c } });
    undecryptable(m);
  });

  it('garbage is undecryptable', async () => {
    const m = await fromHub(ada, 'garbage');
    await handle({ ...m, enc: { ...m.enc, ciphertext: randomBytes(40) } });
    undecryptable(m);
  });

  it('a PreKey message naming a signed prekey we do not have is undecryptable', async () => {
    const d = await hubDevice(5, 999_999);
    const m = await fromHub(d, 'unknown signed prekey');
    await handle(m);
    undecryptable(m);
  });

  it('a plaintext that is not content is undecryptable', async () => {
    const m = await fromHub(ada, '', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 8, 8, 8, 8, 8, 8, 8, 8]));
    await handle(m);
    undecryptable(m);
  });

  it('a group ciphertext on a message to one user is undecryptable', async () => {
    const m = await fromHub(ada, 'group');
    await handle({ ...m, enc: { ...m.enc, type: 'skmsg' } });
    undecryptable(m);
  });

  it('a message from a device we have no session with is undecryptable', async () => {
    const m = await fromHub(ada, 'no session');
    expect(m.enc.type).toBe('msg');
    await accounts.store(USER).dropSessionsOf((name) => name.startsWith('ada:3@hub'));
    await handle(m);
    undecryptable(m);
  });
});
