// Edge cases of the inbound path (inbound.ts) on a real Redis, with the handler driven directly by
// stanzas from a simulated hub device (as in inbound-commit.test.ts):
// - a Redis failure while decrypting/storing is not "undecryptable": the message must not be
//   acked (nothing was stored; the hub redelivers it) and no retry receipt goes out; nor is a
//   record sealed under a key this replica is not configured with (a config fault);
// - a hub receipt is acked only once its status is stored (a Redis failure first: not acked);
// - a message relabelled on the way (spec 5, 11) is acked and dropped, and its redelivery is a
//   duplicate: no retry receipt, no "undecryptable" notice;
// - a PreKey message from a contact whose identity key changed (reinstall) is an identity change
//   (issue 3: "on an identity notification or an untrusted identity"): the provider user is told
//   and the message is delivered, rather than asked for retries that can never succeed.
import { ReplyError } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyNotConfiguredError } from '../../src/crypto/keyring.ts';
import type { IncomingMessage } from '../../src/protocol/index.ts';
import { until } from './harness.ts';
import { HUB_USER, inboundRig, type HubDevice } from './inbound-rig.ts';

const identityChanges: string[] = [];
const rig = inboundRig({
  // What Core.identityChanged does to the stores (its notice goes through the adapter there).
  identityChanged: async (user, peer) => {
    identityChanges.push(peer);
    const store = rig.accounts.store(user);
    await store.dropSessionsOf((name) => name.replace(/:\d+@/, '@') === peer);
    await store.forgetIdentitiesOf((name) => name.replace(/:\d+@/, '@') === peer);
  },
});
const { acks, retries, receipted, handle, delivered, notices, edge, statusLog } = rig;

/** The simulated hub device; `newHubDevice` gives it a fresh identity, as a reinstall does. */
let ada: HubDevice;
async function newHubDevice(gen: number): Promise<void> {
  ada = await rig.hubDevice(3, { store: `gen${gen}` });
}
const fromHub = (text: string, contentId?: string) => rig.fromHub(ada, text, contentId === undefined ? {} : { contentId });

beforeAll(async () => {
  await rig.start();
  await newHubDevice(1);
  const first = await fromHub('first');
  await handle(first);
  await until(() => receipted(first.id), 10_000, 'first delivered');
});
afterAll(() => rig.close());

describe('inbound edge cases', () => {
  it.each([
    ['a Redis failure while decrypting and storing is not acked and not answered with a retry receipt', 'survives a Redis hiccup', () => new ReplyError("OOM command not allowed when used memory > 'maxmemory'.")],
    ['a record sealed under a key this replica lacks is not acked either: a config fault, not a bad message', 'waits for the right keys', () => new KeyNotConfiguredError('record sealed with key "k0", which is not configured')],
  ])('%s', async (_name, text, failure) => {
    const m = await fromHub(text);
    edge.failNext = failure();
    await handle(m);
    expect(acks(m.id)).toBe(0);
    expect(retries(m.id)).toBe(0);
    expect(notices.some((x) => x.kind === 'undecryptable' && x.messageId === m.id)).toBe(false);
    // the hub redelivers it: decrypted, stored, acked and delivered once
    await handle(m);
    await until(() => receipted(m.id), 10_000, 'delivered on redelivery');
    expect(delivered.filter((d) => d.id === m.id).map((d) => d.text)).toEqual([text]);
    expect(acks(m.id)).toBe(1);
  });

  it('a hub receipt is acked only once its status is stored: a Redis failure first leaves it unacked', async () => {
    const receipt = { kind: 'receipt', id: 'ours-0001', from: HUB_USER, participant: ada.address, type: 'read', t: 1_700_000_100 } as unknown as IncomingMessage;
    const append = statusLog.appendReceipt.bind(statusLog);
    statusLog.appendReceipt = () => Promise.reject(new ReplyError("OOM command not allowed when used memory > 'maxmemory'."));
    try {
      await handle(receipt);
      expect(acks('ours-0001')).toBe(0);
    } finally {
      statusLog.appendReceipt = append;
    }
    await handle(receipt); // the hub sends it again
    expect(acks('ours-0001')).toBe(1);
  });

  it('a relabelled message is acked and dropped; its redelivery gets no retry receipt', async () => {
    const m = await fromHub('relabelled', 'another-id-000');
    await handle(m);
    expect(acks(m.id)).toBe(1);
    await handle(m); // the ack was lost: the hub redelivers
    expect(acks(m.id)).toBe(2);
    expect(retries(m.id)).toBe(0);
    expect(notices.some((x) => x.kind === 'undecryptable' && x.messageId === m.id)).toBe(false);
    expect(delivered.some((d) => d.id === m.id)).toBe(false);
  });

  it('a PreKey message under a changed contact identity is an identity change, and is delivered', async () => {
    await newHubDevice(2); // ada reinstalled: new identity key, new session from alice's bundle
    const m = await fromHub('after my reinstall');
    await handle(m);
    expect(identityChanges).toContain(HUB_USER);
    await until(() => receipted(m.id), 10_000, 'delivered');
    expect(delivered.find((d) => d.id === m.id)?.text).toBe('after my reinstall');
    expect(retries(m.id)).toBe(0);
    expect(acks(m.id)).toBe(1);
  });
});
