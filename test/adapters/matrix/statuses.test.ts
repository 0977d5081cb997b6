// Which statuses of a Matrix user's message reach the portal (config `send_statuses`), and the
// merging of a message's acceptance with its delivery (status-coalesce.ts): the coalescer with a
// recording post function and a short hold, statusToMatrix against a recording bridge, and the
// option's validation through the whole config file (field path in the error).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { MessageStatus } from '../../../adapters/contract.ts';
import { statusToMatrix } from '../../../adapters/matrix/hub-inbound.ts';
import { matrixConfigSchema } from '../../../adapters/matrix/config.ts';
import { StatusCoalescer, type SendStatuses } from '../../../adapters/matrix/status-coalesce.ts';
import { adapterConfigSchemas } from '../../../adapters/registry.ts';
import { parseCausewayConfig } from '../../../src/config/causeway.ts';
import { ConfigError } from '../../../src/config/errors.ts';

const HOLD = 40;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const st = (messageId: string, state: MessageStatus['state'], extra: Partial<MessageStatus> = {}): MessageStatus => ({
  messageId, idempotencyKey: `$ev-${messageId}`, from: 'alice', to: '447700900123@hub', state, at: Date.now(), ...extra,
});

function coalescer(mode: SendStatuses) {
  const posted: MessageStatus[] = [];
  const c = new StatusCoalescer({ mode, holdMs: HOLD, post: async (s) => void posted.push(s) });
  return { c, posted, summary: () => posted.map((s) => `${s.messageId}:${s.state}`) };
}

describe('send statuses: all', () => {
  it('posts a lone acceptance after the hold', async () => {
    const { c, summary } = coalescer('all');
    const done = c.submit(st('m1', 'sent'));
    await sleep(HOLD / 4);
    expect(summary()).toEqual([]);
    await done;
    expect(summary()).toEqual(['m1:sent']);
  });

  it('replaces a held acceptance by the delivery that follows it, keeping what the acceptance said', async () => {
    const { c, posted } = coalescer('all');
    const sent = c.submit(st('m1', 'sent', { message: 'Edits arrive as new messages.', downgraded: [{ feature: 'edit', to: 'text' }] }));
    const delivered = c.submit(st('m1', 'delivered', { device: '0' }));
    await Promise.all([sent, delivered]);
    expect(posted).toHaveLength(1);
    expect(posted[0]).toMatchObject({ state: 'delivered', message: 'Edits arrive as new messages.', downgraded: [{ feature: 'edit', to: 'text' }] });
  });

  it('never goes back: a second device\'s delivery and a late acceptance post nothing', async () => {
    const { c, summary } = coalescer('all');
    await c.submit(st('m1', 'delivered', { device: '0' }));
    await c.submit(st('m1', 'delivered', { device: '3' }));
    await c.submit(st('m1', 'sent'));
    await sleep(HOLD * 2);
    expect(summary()).toEqual(['m1:delivered']);
  });

  it('posts the delivery after an acceptance already posted, in order', async () => {
    const order: string[] = [];
    const c = new StatusCoalescer({ mode: 'all', holdMs: 5, post: async (s) => {
      order.push(`start ${s.state}`);
      await sleep(s.state === 'sent' ? 30 : 1);
      order.push(`end ${s.state}`);
    } });
    const sent = c.submit(st('m1', 'sent'));
    await sleep(15); // the acceptance is being posted
    await Promise.all([sent, c.submit(st('m1', 'delivered'))]);
    expect(order).toEqual(['start sent', 'end sent', 'start delivered', 'end delivered']);
  });

  it('posts a failure at once and drops the acceptance held for that message', async () => {
    const { c, summary } = coalescer('all');
    const sent = c.submit(st('m1', 'sent'));
    const other = c.submit(st('m2', 'sent'));
    await c.submit(st('m1', 'failed', { reason: 'expired', certain: true }));
    expect(summary()).toEqual(['m1:failed']);
    await Promise.all([sent, other]);
    expect(summary()).toEqual(['m1:failed', 'm2:sent']);
  });

  it('posts what it holds when flushed (the connector stops)', async () => {
    const posted: string[] = [];
    const c = new StatusCoalescer({ mode: 'all', holdMs: 60_000, post: async (s) => void posted.push(s.messageId) });
    const a = c.submit(st('a', 'sent'));
    const b = c.submit(st('b', 'sent'));
    await c.flush();
    await Promise.all([a, b]);
    expect(posted.sort()).toEqual(['a', 'b']);
  });

  it('passes a post failure on to the caller', async () => {
    const c = new StatusCoalescer({ mode: 'all', holdMs: 1, post: async () => {
      throw new Error('homeserver down');
    } });
    await expect(c.submit(st('m1', 'sent'))).rejects.toThrow('homeserver down');
    await expect(c.submit(st('m2', 'failed'))).rejects.toThrow('homeserver down');
  });
});

describe('send statuses: failures', () => {
  it('posts failures, receipts and the policy notice of an acceptance; successes otherwise post nothing', async () => {
    const { c, summary } = coalescer('failures');
    await c.submit(st('m1', 'sent'));
    await c.submit(st('m1', 'delivered'));
    await c.submit(st('m2', 'sent', { message: 'Edits arrive as new messages.' }));
    await c.submit(st('m3', 'failed', { reason: 'not-opted-in' }));
    await c.submit(st('m1', 'read'));
    await sleep(HOLD * 2);
    expect(summary()).toEqual(['m2:sent', 'm3:failed', 'm1:read']);
  });
});

/** A bridge that records what statusToMatrix sends into the portal. */
function recordingBridge(sendStatuses: SendStatuses) {
  const portal = { roomId: '!p:x', userId: '@alice:x', local: 'alice', hubUser: '447700900123@hub', puppet: '@hub_447700900123:x', encrypted: true };
  const sent: Array<{ type: string; content: Record<string, unknown> }> = [];
  const b = {
    config: { send_statuses: sendStatuses },
    portals: { eventOf: async () => ({ roomId: portal.roomId, eventId: '$orig' }), byRoom: async () => portal },
    sendToPortal: async (_p: unknown, type: string, content: Record<string, unknown>) => (sent.push({ type, content }), '$new'),
    notice: async (_p: unknown, text: string) => (sent.push({ type: 'notice', content: { body: text } }), '$n'),
    api: { sendReceipt: async () => void sent.push({ type: 'receipt', content: {} }) },
    log: { warn: () => undefined },
  };
  return { b: b as never, sent };
}

describe('statusToMatrix', () => {
  it('failures: a failure is a status and a notice; an acceptance only its policy notice; a delivery nothing', async () => {
    const { b, sent } = recordingBridge('failures');
    await statusToMatrix(b, st('m1', 'sent', { message: 'Edits arrive as new messages.' }));
    await statusToMatrix(b, st('m1', 'delivered'));
    expect(sent.map((s) => s.type)).toEqual(['notice']);
    await statusToMatrix(b, st('m2', 'failed', { reason: 'blocked', certain: true }));
    expect(sent.slice(1).map((s) => [s.type, s.content.status ?? s.content.body])).toEqual([
      ['com.beeper.message_send_status', 'FAIL_PERMANENT'],
      ['notice', '⚠️ Your message was not delivered: the recipient has blocked you'],
    ]);
  });

  it('all: a delivery standing for the acceptance is one SUCCESS with delivered_to_users, downgrade and message kept', async () => {
    const { b, sent } = recordingBridge('all');
    await statusToMatrix(b, st('m1', 'delivered', { message: 'Edits arrive as new messages.', downgraded: [{ feature: 'edit', to: 'text' }] }));
    expect(sent[0]).toEqual({
      type: 'com.beeper.message_send_status',
      content: expect.objectContaining({ status: 'SUCCESS', delivered_to_users: ['@hub_447700900123:x'], message: 'Edits arrive as new messages.', 'org.causeway.downgraded': [{ feature: 'edit', to: 'text' }] }),
    });
    expect(sent[1]?.type).toBe('notice');
  });
});

describe('the send_statuses option', () => {
  const base = { homeserver_url: 'http://hs', server_name: 'example.org', appservice_url: 'http://cw:7310', as_token: 'A', hs_token: 'H' };

  it('defaults to all and accepts failures', () => {
    expect(matrixConfigSchema.parse(base).send_statuses).toBe('all');
    expect(matrixConfigSchema.parse({ ...base, send_statuses: 'failures' }).send_statuses).toBe('failures');
  });

  it('is refused with its field path when it is neither', () => {
    const key = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const env = { CW_MX_SIGNING_KEY: key, CW_MX_KEK: randomBytes(32).toString('base64') };
    Object.assign(process.env, env);
    try {
      const text = `hub:
  provider_id: birdy
  signing_key: { env: CW_MX_SIGNING_KEY }
store:
  key_encryption_keys:
    - id: k1
      key: { env: CW_MX_KEK }
  active_key_id: k1
adapters:
  - id: matrix
    type: matrix
    config:
      homeserver_url: http://hs
      server_name: example.org
      appservice_url: http://cw:7310
      as_token: A
      hs_token: H
      send_statuses: success
`;
      let err: unknown;
      try {
        parseCausewayConfig(text, 'f.yaml', adapterConfigSchemas);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const issues = (err as ConfigError).issues;
      expect(issues).toHaveLength(1);
      expect(issues[0]).toMatchObject({ path: 'adapters[0].config.send_statuses', line: 18 });
      expect(issues[0]?.message).toMatch(/failures.*all/);
    } finally {
      for (const k of Object.keys(env)) delete process.env[k];
    }
  });
});
