// A contact's identity change (Core.identityChanged) while a Signal operation on one of that
// contact's devices is in flight, here or on another replica: the drop of the old sessions waits for
// the operation's lock, so the operation cannot write the old session back after the drop.
import { signalEncrypt } from '@signalapp/libsignal-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PeerLock } from '../../src/crypto/peer-lock.ts';
import { signalAddress } from '../../src/crypto/signal-edge.ts';
import { SignalUnit } from '../../src/crypto/signal-unit.ts';
import { deviceAddress } from '../../src/protocol/index.ts';
import { harness, until } from './harness.ts';

const ADA = '447700900123@hub';
let h: Awaited<ReturnType<typeof harness>>;

beforeAll(async () => {
  h = await harness({ users: [{ phone: '+447700900123', name: 'Ada', devices: [0], script: { echo: false, receipts: false, read: false, delay_ms: 0 } }] });
  await h.core.setInterop('rec', 'alice', true);
  const { messageId } = await h.core.submit('rec', { idempotencyKey: 'first', from: 'alice', to: ADA, text: 'first' });
  await until(() => h.connector.statuses.find((s) => s.messageId === messageId && s.state === 'sent'), 15_000, 'sent');
});
afterAll(() => h.close());

describe('identity change during a Signal operation on the contact', () => {
  it('drops the session after the operation commits, not before', async () => {
    const user = h.core.userAddress('alice');
    const store = h.core.accounts.store(user);
    const device = deviceAddress(ADA, 0);
    const addr = signalAddress(device);
    expect(await store.sessions.getSession(addr)).not.toBeNull();

    // Another replica's encrypt for Ada's device: it holds the device's lock and ratchets the
    // session in memory, and commits only when the gate opens.
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const other = new PeerLock(h.prefix);
    const inFlight = other.withLocksIo(user, [device], new SignalUnit(store, [addr]), async (u) => {
      entered();
      await gate;
      await signalEncrypt(new TextEncoder().encode('in flight'), addr, signalAddress(deviceAddress(user, 1)), u.sessions, u.identities);
    });
    await inside;

    let changedDone = false;
    const changed = h.core.identityChanged(user, ADA).then((p) => {
      changedDone = true;
      return p;
    });
    // Time enough for an unlocked drop to have happened; a locked one is still waiting.
    await new Promise((r) => setTimeout(r, 300));
    const finishedWhileHeld = changedDone;
    open();
    await inFlight;
    expect(await changed).toBe('continue');

    expect(finishedWhileHeld).toBe(false);
    expect(await store.sessions.getSession(addr)).toBeNull();
    expect(await store.identities.getIdentity(addr)).toBeNull();
  });
});
