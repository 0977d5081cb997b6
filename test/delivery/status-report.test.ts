// A message's final status (sent, failed) is reported at least once although the finish script and
// the adapter's `status` are two steps: a process killed between them (here: a report that never
// completes, as in a process that died, and one the adapter refused) leaves the status due, and
// the lane sweep of any replica reports it again from the status log, once it has been due for
// `statusRedoMs`. The re-report is the stored status itself, so an adapter that derives its event
// id from it (the webhook adapter: message id, state, device, at) sends the same event id again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageStatus } from '../../adapters/contract.ts';
import { statusEvent } from '../../adapters/webhook/events.ts';
import { eventually, statusRedoHarness, until } from './harness.ts';

const ADA = '447700900123@hub';

describe('a final status whose report was lost', () => {
  let h: Awaited<ReturnType<typeof statusRedoHarness>>;
  beforeAll(async () => {
    h = await statusRedoHarness();
  });
  afterAll(() => h.close());
  const dueKey = () => `${h.prefix}:status-due`;

  it('is reported by another replica’s sweep, as the stored status (same webhook event id)', async () => {
    // The first replica's report never reaches the adapter: the process "dies" right after FINISH.
    const lost: MessageStatus[] = [];
    h.connector.status = (s) => {
      lost.push(s);
      return new Promise<void>(() => undefined);
    };
    const { messageId: id } = await h.core.submit('rec', { idempotencyKey: 'lost-1', from: 'alice', to: ADA, text: 'hello' });
    await until(() => lost.find((s) => s.messageId === id && s.state === 'sent'), 15_000, 'the lost report');
    const stored = (await h.core.statusLog.history(id)).find((s) => s.state === 'sent') as MessageStatus;
    expect(stored).toBeDefined();

    const other = await h.replica(false);
    try {
      await other.core.outbound.sweep();
      const again = await until(() => other.connector.statuses.find((s) => s.messageId === id && s.state === 'sent'), 15_000, 'the re-report');
      expect(again).toEqual(stored);
      expect(statusEvent('hooks', again, Date.now()).eventId).toBe(statusEvent('hooks', lost[0] as MessageStatus, Date.now()).eventId);
      // Once the adapter took it, it is no longer due (removed in the next batch).
      await eventually(async () => (await h.redis.zscore(dueKey(), id)) === null, 5_000, 'the due entry removed');
      const before = other.connector.statuses.length;
      await other.core.outbound.sweep();
      expect(other.connector.statuses.length).toBe(before);
    } finally {
      await other.close();
    }
  });

  it('is reported again when the adapter refused it, and not once it took it', async () => {
    let refuse = true;
    let refused = 0;
    const got: MessageStatus[] = [];
    h.connector.status = async (s) => {
      if (refuse) {
        if (s.state === 'sent') refused++;
        throw new Error('adapter down');
      }
      got.push(s);
    };
    const { messageId: id } = await h.core.submit('rec', { idempotencyKey: 'refused-1', from: 'alice', to: ADA, text: 'hello again' });
    await eventually(async () => (await h.core.statusLog.history(id)).some((s) => s.state === 'sent'), 15_000, 'sent');
    await until(() => refused > 0, 5_000, 'the refused report');
    // The refused report leaves it due.
    expect(await h.redis.zscore(dueKey(), id)).not.toBeNull();
    refuse = false;
    await h.core.outbound.sweep();
    await until(() => got.find((s) => s.messageId === id && s.state === 'sent'), 15_000, 're-reported');
    await eventually(async () => (await h.redis.zscore(dueKey(), id)) === null, 5_000, 'removed after the report');
  });
});
