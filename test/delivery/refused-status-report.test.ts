// A message the downgrade policy ends at submit (rejected or dropped) gets its final 'failed' status
// when it is written, and that status is reported at least once like any other final status: the
// script that writes it also marks it due (StatusLog#dueKey), it is handed to the adapter through
// the outbound worker's at-least-once path (cleared once the adapter took it), and a report lost
// with its process (or refused by the adapter) is made again by a sweep, as the stored status.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageStatus, OutboundMessage } from '../../adapters/contract.ts';
import { policySchema } from '../../src/config/policy-schema.ts';
import { CoreSubmit } from '../../src/core-submit.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { Outbox, type OutboundRecord } from '../../src/delivery/outbox.ts';
import { StatusLog } from '../../src/delivery/status-log.ts';
import { testRedis } from '../support/redis.ts';
import { eventually, statusRedoHarness, until } from './harness.ts';

const ALICE = 'alice@birdy.interop';
const ADA = '447700900123@hub';
const FINAL = { reason: 'view-once', message: 'View-once messages cannot be sent to this chat.' };

describe('Outbox: a final outcome written at submit', () => {
  const r = testRedis();
  afterAll(() => r.cleanup());
  const log = new StatusLog(r.redis, r.prefix);
  const outbox = new Outbox(r.redis, new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1'), r.prefix, log);
  const rec = (key: string): Omit<OutboundRecord, 'id' | 't'> => ({
    adapterId: 'app', idempotencyKey: key, user: ALICE, peer: ADA, from: 'alice', message: { idempotencyKey: key, from: 'alice', to: ADA },
  });
  const due = async (id: string) => (await r.redis.zscore(log.dueKey, id)) !== null;
  const lastStored = async (id: string) => (await log.history(id)).at(-1);

  it('is due for its report with its write, and the status to report is the stored one (submit, submitMany, an interrupted claim)', async () => {
    const one = await outbox.submit(rec('f-one'), FINAL);
    const [many, queued] = await outbox.submitMany([{ record: rec('f-many'), final: FINAL }, { record: rec('q-many') }]);
    await r.redis.set(outbox.idemKey('app', 'f-claimed'), `${ALICE}|CLAIMEDF001`, 'EX', 60); // a claim whose record was never written
    const claimed = await outbox.submit(rec('f-claimed'), FINAL);
    expect(claimed.id).toBe('CLAIMEDF001');
    for (const w of [one, many, claimed]) {
      expect(await due(w?.id as string)).toBe(true);
      expect(await lastStored(w?.id as string)).toMatchObject({ state: 'failed', reason: 'view-once', certain: true });
      expect(w?.failed).toEqual(await lastStored(w?.id as string));
    }
    expect(await due(queued?.id as string)).toBe(false);
    expect(queued?.failed).toBeUndefined();
    // A repeat of the key writes nothing and reports nothing again.
    const again = await outbox.submit(rec('f-one'), FINAL);
    expect(again).toEqual({ id: one.id, duplicate: true, head: false });
  });
});

describe('Core: the status of a submit the policy refused', () => {
  let h: Awaited<ReturnType<typeof statusRedoHarness>>;
  beforeAll(async () => {
    h = await statusRedoHarness();
  });
  afterAll(() => h.close());
  const viewOnce = (key: string): OutboundMessage => ({ idempotencyKey: key, from: 'alice', to: ADA, feature: { name: 'view-once', data: { media: { kind: 'image', mime: 'image/jpeg', url: 'https://example.com/x.jpg' } } } });
  const due = async (id: string) => (await h.redis.zscore(`${h.prefix}:status-due`, id)) !== null;

  it('is reported by another replica’s sweep when the first report was lost with its process (submit and submitMany)', async () => {
    // The first replica's report never reaches the adapter: the process "dies" right after the write.
    const lost: MessageStatus[] = [];
    h.connector.status = (s) => {
      lost.push(s);
      return new Promise<void>(() => undefined);
    };
    const { messageId: a } = await h.core.submit('rec', viewOnce('refused-1'));
    const [b] = await h.core.submitMany('rec', [viewOnce('refused-2')]);
    const ids = [a, b && 'messageId' in b ? b.messageId : ''];
    await until(() => ids.every((id) => lost.some((s) => s.messageId === id && s.state === 'failed')), 5_000, 'the lost reports');

    const other = await h.replica(false);
    try {
      await other.core.outbound.sweep();
      for (const id of ids) {
        const again = await until(() => other.connector.statuses.find((s) => s.messageId === id && s.state === 'failed'), 15_000, 'the re-report');
        expect(again).toMatchObject({ state: 'failed', reason: 'view-once', certain: true });
        // The same status as the one reported at submit, and as stored: one event for the adapter.
        expect(again).toEqual(lost.find((s) => s.messageId === id));
        expect(again).toEqual((await h.core.statusLog.history(id)).at(-1));
      }
    } finally {
      await other.close();
    }
  });

  it('goes through the worker’s at-least-once path: due until the adapter took it, reported again while it refuses', async () => {
    // CoreSubmit wired to OutboundDelivery#reportDue (as Core does).
    const core = h.core;
    const submit = new CoreSubmit({
      outbox: core.outbox, maxTextBytes: 65_536, policy: policySchema.parse({}),
      userAddress: (local) => core.userAddress(local),
      isEnabled: (user) => core.accounts.isEnabled(user),
      statuses: (adapterId, key) => core.statuses(adapterId, key),
      prepareMedia: () => Promise.reject(new Error('no media here')),
      kick: (j) => core.outbound.kick(j),
      onStatus: (s) => core.outbound.reportDue(s),
    });
    let refuse = true;
    let refused = 0;
    const got: MessageStatus[] = [];
    h.connector.status = async (s) => {
      if (refuse) {
        refused++;
        throw new Error('adapter down');
      }
      got.push(s);
    };
    const { messageId: id } = await submit.submit('rec', viewOnce('refused-3'));
    await until(() => refused > 0, 5_000, 'the refused report');
    expect(await due(id)).toBe(true);
    refuse = false;
    await core.outbound.sweep();
    await until(() => got.find((s) => s.messageId === id && s.state === 'failed'), 15_000, 're-reported');
    await eventually(async () => !(await due(id)), 5_000, 'cleared once the adapter took it');

    // Taken at once: no longer due, and a sweep does not report it again.
    const [m] = await submit.submitMany('rec', [viewOnce('refused-4')]);
    const id4 = m && 'messageId' in m ? m.messageId : '';
    await until(() => got.find((s) => s.messageId === id4 && s.state === 'failed'), 5_000, 'reported');
    await eventually(async () => !(await due(id4)), 5_000, 'cleared');
    const before = got.length;
    await core.outbound.sweep();
    expect(got.length).toBe(before);
  });
});
