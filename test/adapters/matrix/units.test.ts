// Unit tests of the Matrix adapter's pure parts and its appservice routes (Hono, in-process).
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { classify, htmlToHubText } from '../../../adapters/matrix/content.ts';
import { BridgeIds, phoneDigits } from '../../../adapters/matrix/ids.ts';
import { matrixConfigSchema } from '../../../adapters/matrix/config.ts';
import { appserviceRoutes } from '../../../adapters/matrix/routes.ts';
import { readTransaction } from '../../../adapters/matrix/transaction.ts';
import { testRedis } from '../../support/redis.ts';

const ids = new BridgeIds({ server_name: 'example.org', bot_localpart: 'hubbot', puppet_localpart: 'hub_{phone}' });

describe('ids', () => {
  it('maps puppets, the bot and local users, and derives a namespace that matches exactly the bridge users', () => {
    expect(ids.puppetOf('447700900123@hub')).toBe('@hub_447700900123:example.org');
    expect(ids.hubUserOf('@hub_447700900123:example.org')).toBe('447700900123@hub');
    expect(ids.hubUserOf('@hub_447700900123:evil.org')).toBeUndefined();
    expect(ids.hubUserOf('@hub_abc:example.org')).toBeUndefined();
    expect(ids.localOf('@alice:example.org')).toBe('alice');
    expect(ids.localOf('@Alice:example.org')).toBeUndefined();
    expect(ids.localOf('@a/b:example.org')).toBeUndefined();
    expect(ids.localOf('@alice:other.org')).toBeUndefined();
    expect(ids.localOf('@hubbot:example.org')).toBeUndefined();
    const ns = new RegExp(`^${ids.namespaceRegex()}$`);
    expect(ns.test('@hubbot:example.org')).toBe(true);
    expect(ns.test('@hub_447700900123:example.org')).toBe(true);
    expect(ns.test('@alice:example.org')).toBe(false);
    expect(ns.test('@hub_447700900123:exampleXorg')).toBe(false);
    expect(phoneDigits('+44 7700 900123')).toBe('447700900123');
    expect(phoneDigits('hello')).toBeUndefined();
  });

  it('builds the registration from the config, with both tokens and the encryption flags', () => {
    const c = matrixConfigSchema.parse({ homeserver_url: 'http://hs', server_name: 'example.org', appservice_url: 'http://cw:7310', as_token: 'A', hs_token: 'H' });
    const r = c.registration();
    expect(r).toMatchObject({ id: 'causeway', url: 'http://cw:7310', as_token: 'A', hs_token: 'H', sender_localpart: 'hubbot', 'org.matrix.msc3202': true, 'de.sorunome.msc2409.push_ephemeral': true });
    expect(r.namespaces.users).toEqual([{ exclusive: true, regex: '@(hubbot|hub_[0-9]+):example\\.org' }]);
    expect(JSON.stringify(c)).not.toContain('"H"');
    expect(matrixConfigSchema.safeParse({ homeserver_url: 'http://hs', server_name: 'example.org', appservice_url: 'http://x', as_token: 'A', hs_token: 'H', puppet_localpart: 'nophone' }).success).toBe(false);
  });
});

describe('transactions', () => {
  const counts = { '@hub_1234567:example.org': { CWDEV: { signed_curve25519: 7 } } };
  it('reads the MSC spelling and Synapse\'s spelling of one-time key counts, and both to-device spellings', () => {
    for (const name of ['org.matrix.msc3202.device_one_time_keys_count', 'org.matrix.msc3202.device_one_time_key_counts', 'device_one_time_keys_count']) {
      expect(readTransaction({ events: [], [name]: counts }).otkCounts).toEqual(counts);
    }
    for (const name of ['to_device', 'de.sorunome.msc2409.to_device']) {
      expect(readTransaction({ [name]: [{ type: 'm.room.encrypted', to_user_id: 'u' }] }).toDevice).toHaveLength(1);
    }
    const t = readTransaction({ 'org.matrix.msc3202.device_lists': { changed: ['@a:x', 3], left: ['@b:x'] }, 'de.sorunome.msc2409.ephemeral': [{ type: 'm.receipt' }] });
    expect(t).toMatchObject({ changed: ['@a:x'], left: ['@b:x'], ephemeral: [{ type: 'm.receipt' }], events: [] });
  });
  it('drops malformed counts instead of reading them as zero', () => {
    const t = readTransaction({ 'org.matrix.msc3202.device_one_time_key_counts': { u: { D: { signed_curve25519: -1, curve25519: 'x', ok: 3 } } } });
    expect(t.otkCounts).toEqual({ u: { D: { ok: 3 } } });
  });
});

describe('content', () => {
  it('reduces formatting to what the hub carries', () => {
    expect(htmlToHubText('<strong>bold</strong> <em>it</em> <del>gone</del> <code>x&lt;y</code> <a href="https://e.org">link</a>')).toBe('*bold* _it_ ~gone~ `x<y` link (https://e.org)');
    expect(htmlToHubText('<mx-reply><blockquote>old</blockquote></mx-reply>new<br>line')).toBe('new\nline');
    expect(htmlToHubText('<pre><code>a\nb\n</code></pre>')).toBe('```\na\nb\n```');
  });
  it('classifies messages, media, voice and every feature the hub does not carry', () => {
    expect(classify('m.room.message', { msgtype: 'm.text', body: 'hi' })).toEqual({ kind: 'text', text: 'hi' });
    expect(classify('m.room.message', { msgtype: 'm.text', body: '> <@a:x> q\n\nanswer', 'm.relates_to': { 'm.in_reply_to': { event_id: '$e' } } })).toEqual({ kind: 'text', text: 'answer', replyTo: '$e' });
    expect(classify('m.room.message', { msgtype: 'm.audio', body: 'v.ogg', 'org.matrix.msc3245.voice': {} })).toMatchObject({ kind: 'media', mediaKind: 'voice' });
    expect(classify('m.room.message', { msgtype: 'm.image', body: 'a.png' })).toMatchObject({ kind: 'media', mediaKind: 'image' });
    expect(classify('m.room.message', { msgtype: 'm.file', body: 'a.pdf' })).toMatchObject({ kind: 'media', mediaKind: 'document' });
    expect(classify('m.sticker', { body: 'cat', url: 'mxc://x/y', info: { mimetype: 'image/webp' } })).toMatchObject({ kind: 'feature', feature: 'sticker', data: { mime: 'image/webp' }, sticker: { url: 'mxc://x/y' } });
    expect(classify('m.room.message', { msgtype: 'm.location', body: 'Here', geo_uri: 'geo:51.5,-0.12;u=35' })).toMatchObject({ kind: 'feature', feature: 'location', data: { latitude: 51.5, longitude: -0.12, name: 'Here' } });
    // No structured form for an unreadable geo URI: only the bridge's text.
    expect(classify('m.room.message', { msgtype: 'm.location', body: 'Nowhere', geo_uri: 'geo:200,7' })).toEqual({ kind: 'feature', feature: 'location', fallback: 'Location: Nowhere' });
    expect(classify('m.reaction', { 'm.relates_to': { rel_type: 'm.annotation', event_id: '$e', key: '👍' } })).toEqual({ kind: 'feature', feature: 'reaction', fallback: 'Reacted 👍', data: { emoji: '👍' }, target: '$e' });
    expect(classify('m.room.message', { msgtype: 'm.text', body: '* fixed', 'm.new_content': { msgtype: 'm.text', body: 'fixed' }, 'm.relates_to': { rel_type: 'm.replace', event_id: '$e' } })).toMatchObject({ kind: 'feature', feature: 'edit', fallback: 'Edited: fixed', data: { text: 'fixed' }, target: '$e' });
    expect(classify('m.room.redaction', { redacts: '$e' })).toMatchObject({ kind: 'feature', feature: 'delete', data: { for_everyone: true }, target: '$e' });
    expect(classify('org.matrix.msc3381.poll.start', { 'org.matrix.msc3381.poll.start': { question: { 'org.matrix.msc1767.text': 'Lunch?' }, max_selections: 2, answers: [{ id: 'a', 'org.matrix.msc1767.text': 'Yes' }] } })).toMatchObject({ kind: 'feature', feature: 'poll', fallback: 'Poll: Lunch?\n- Yes', data: { question: 'Lunch?', options: ['Yes'], multiple: true } });
    expect(classify('m.room.topic', { topic: 'x' })).toEqual({ kind: 'ignore' });
  });
});

describe('appservice routes', () => {
  const { redis, prefix, cleanup } = testRedis();
  afterAll(() => cleanup());
  const handled: string[] = [];
  let fail = false;
  const app = appserviceRoutes({
    hsToken: () => 'HS', redis, base: prefix, txnRetentionS: 60, logger: pino({ level: 'silent' }),
    onTransaction: async (txnId) => {
      if (fail) throw new Error('boom');
      handled.push(txnId);
    },
    userExists: async (u) => u.startsWith('@hub_'),
  });
  const put = (txn: string, token?: string, body: unknown = { events: [] }) =>
    app.request(`/_matrix/app/v1/transactions/${txn}`, { method: 'PUT', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });

  it('authenticates with the hs_token: 401 without, 403 with a wrong one', async () => {
    expect((await put('a')).status).toBe(401);
    const r = await put('a', 'nope');
    expect(r.status).toBe(403);
    expect(await r.json()).toMatchObject({ errcode: 'M_FORBIDDEN' });
    expect(handled).toEqual([]);
  });

  it('handles a txnId once, and again only if it failed', async () => {
    expect((await put('t1', 'HS')).status).toBe(200);
    expect((await put('t1', 'HS')).status).toBe(200);
    expect(handled).toEqual(['t1']);
    fail = true;
    expect((await put('t2', 'HS')).status).toBe(500);
    fail = false;
    expect((await put('t2', 'HS')).status).toBe(200);
    expect(handled).toEqual(['t1', 't2']);
    expect((await put('t3', 'HS', [1, 2])).status).toBe(400);
  });

  it('answers users queries, rooms queries and ping', async () => {
    const q = (path: string, method = 'GET') => app.request(path, { method, headers: { authorization: 'Bearer HS' } });
    expect((await q('/_matrix/app/v1/users/@hub_447700900123:example.org')).status).toBe(200);
    expect((await q('/_matrix/app/v1/users/@alice:example.org')).status).toBe(404);
    expect((await q('/_matrix/app/v1/rooms/%23x:example.org')).status).toBe(404);
    expect((await q('/_matrix/app/v1/ping', 'POST')).status).toBe(200);
  });
});
