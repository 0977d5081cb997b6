// A hub receipt's status (delivered, read, played) is reported at least once, like a final status:
// the script that appends it (StatusLog#appendReceipt) also marks it due, the report clears the
// mark once the adapter took it, and the lane sweep of any replica reports it again, as stored,
// once it has been due for `statusRedoMs` — a report the adapter refused, or one lost with its
// process (the hub will not resend the receipt: it was acked). The re-report is the stored status
// itself, so the webhook adapter's event id is the same (the provider deduplicates it). A repeated
// receipt appends nothing and marks nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageStatus } from '../../adapters/contract.ts';
import { statusEvent } from '../../adapters/webhook/events.ts';
import { eventually, statusRedoHarness, until } from './harness.ts';

const ALICE = 'alice@birdy.interop';
const ADA = '447700900123@hub';

describe('a hub receipt whose report was lost', () => {
  let h: Awaited<ReturnType<typeof statusRedoHarness>>;
  beforeAll(async () => {
    h = await statusRedoHarness();
  });
  afterAll(() => h.close());
  const dueKey = () => `${h.prefix}:status-due`;
  const dueMembers = async (id: string) => (await h.redis.zrange(dueKey(), 0, -1)).filter((m) => m === id || m.startsWith(`${id}|`));

  /** Submits a message and waits until it was sent and its final status is no longer due. */
  async function sent(key: string): Promise<string> {
    const { messageId: id } = await h.core.submit('rec', { idempotencyKey: key, from: 'alice', to: ADA, text: key });
    await eventually(async () => (await h.core.statusLog.history(id)).some((s) => s.state === 'sent'), 15_000, 'sent');
    await eventually(async () => (await dueMembers(id)).length === 0, 5_000, 'the sent status reported');
    return id;
  }
  const receipt = (id: string, type: 'delivery' | 'read') => h.control('POST', `/users/${ADA}/receipts`, { to: ALICE, ids: [id], type });

  it('is reported again by the sweep when the adapter refused it, as the stored status; not once it took it', async () => {
    const id = await sent('receipt-refused');
    const refused: MessageStatus[] = [];
    const got: MessageStatus[] = [];
    h.connector.status = async (s) => {
      if (s.messageId !== id) return;
      if (got.length === 0 && refused.length === 0) {
        refused.push(s);
        throw new Error('adapter down');
      }
      got.push(s);
    };
    await receipt(id, 'delivery');
    await until(() => refused[0], 10_000, 'the refused report');
    const stored = (await h.core.statusLog.history(id)).find((s) => s.state === 'delivered') as MessageStatus;
    expect(refused[0]).toEqual(stored);
    // The refusal leaves it due.
    expect(await dueMembers(id)).toHaveLength(1);
    await h.core.outbound.sweep();
    const again = await until(() => got[0], 10_000, 'the re-report');
    expect(again).toEqual(stored);
    expect(statusEvent('hooks', again, Date.now()).eventId).toBe(statusEvent('hooks', refused[0] as MessageStatus, Date.now()).eventId);
    await eventually(async () => (await dueMembers(id)).length === 0, 5_000, 'the due entry removed');
    await h.core.outbound.sweep();
    await new Promise((r) => setTimeout(r, 200));
    expect(got).toHaveLength(1);
  });

  it('is reported by another replica’s sweep when the process died before the report', async () => {
    const id = await sent('receipt-lost');
    const lost: MessageStatus[] = [];
    // This replica's report never completes: the process "dies" right after acking the receipt.
    h.connector.status = (s) => {
      if (s.messageId === id) lost.push(s);
      return s.messageId === id ? new Promise<void>(() => undefined) : Promise.resolve();
    };
    await receipt(id, 'read');
    await until(() => lost[0], 10_000, 'the lost report');
    const other = await h.replica(false); // its start sweeps (statusRedoMs 0 here: due at once)
    try {
      const again = await until(() => other.connector.statuses.find((s) => s.messageId === id && s.state === 'read'), 10_000, 'the re-report');
      expect(again).toEqual((await h.core.statusLog.history(id)).find((s) => s.state === 'read'));
      expect(again).toEqual(lost[0]);
      expect(statusEvent('hooks', again, Date.now()).eventId).toBe(statusEvent('hooks', lost[0] as MessageStatus, Date.now()).eventId);
      await eventually(async () => (await dueMembers(id)).length === 0, 5_000, 'the due entry removed');
      const before = other.connector.statuses.length;
      await other.core.outbound.sweep();
      await new Promise((r) => setTimeout(r, 200));
      expect(other.connector.statuses.length).toBe(before);
    } finally {
      await other.close();
    }
  });

  it('a reported receipt is not reported again, and its repeat appends and marks nothing', async () => {
    const id = await sent('receipt-once');
    const got: MessageStatus[] = [];
    h.connector.status = async (s) => {
      if (s.messageId === id) got.push(s);
    };
    await receipt(id, 'delivery');
    await until(() => got[0], 10_000, 'the report');
    await eventually(async () => (await dueMembers(id)).length === 0, 5_000, 'the due entry removed');
    // The hub resends it (its ack was lost): nothing appended, nothing due, nothing reported. A
    // read receipt after it (handled in order on the session) says when the repeat was handled.
    await receipt(id, 'delivery');
    await receipt(id, 'read');
    await until(() => got.find((s) => s.state === 'read'), 10_000, 'the read receipt');
    await eventually(async () => (await dueMembers(id)).length === 0, 5_000, 'the read’s due entry removed');
    await h.core.outbound.sweep();
    await new Promise((r) => setTimeout(r, 200));
    expect(got.map((s) => s.state)).toEqual(['delivered', 'read']);
    expect((await h.core.statusLog.history(id)).map((s) => s.state)).toEqual(['queued', 'sent', 'delivered', 'read']);
  });
});
