// Audit: what the control API hands to the hub for simulated users must be valid HIP/1 — bad input
// is a 400 naming the field, and a message whose frame would exceed the frame limit (spec 2) is 413,
// never a frame a client must close the session on (nor a stanza that can never be built).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MockHub } from '../../src/mock-hub/index.ts';
import { birdyHubWithAlice, control } from './helpers.ts';
import type { Party } from './helpers.ts';

const BOB = '15550000201@hub';
const ALICE = 'alice@birdy.interop';

describe('control API send and receipts: only valid stanzas reach the hub', () => {
  let h: MockHub;
  let alice: Party;

  beforeAll(async () => {
    ({ h, alice } = await birdyHubWithAlice({ users: [{ phone: '+15550000201', devices: [0] }] }));
  });
  afterAll(() => h.close());

  const offline = async (): Promise<number> => (await control(h, 'GET', `/control/provider-users/${ALICE}`)).json['offline'] as number;

  it('answers 400 naming the field for content spec 11 does not allow, and sends nothing', async () => {
    alice.c.close();
    await alice.c.closed;
    const before = await offline();
    expect(await control(h, 'POST', `/control/users/${BOB}/send`, { to: ALICE, text: 'x'.repeat(65_537) })).toMatchObject({ status: 400, json: { field: 'text' } });
    expect(await control(h, 'POST', `/control/users/${BOB}/send`, { to: ALICE, text: 'nul \u0000' })).toMatchObject({ status: 400, json: { field: 'text' } });
    expect(await control(h, 'POST', `/control/users/${BOB}/send`, { to: ALICE, text: 'hi', reply_to: 'x' })).toMatchObject({ status: 400, json: { field: 'reply_to' } });
    expect(await control(h, 'POST', `/control/users/${BOB}/send`, { to: ALICE, media: { kind: 'image', mime: 'not a mime', data: 'AAAA' } })).toMatchObject({ status: 400, json: { field: 'media.mime' } });
    expect(await control(h, 'POST', `/control/users/${BOB}/receipts`, { to: ALICE, ids: ['x'], type: 'read' })).toMatchObject({ status: 400, json: { field: 'ids.0' } });
    expect(await offline()).toBe(before);
  });

  it('answers 413 when the message would not fit in one frame (spec 2: 256 KiB), and sends nothing', async () => {
    const before = await offline();
    // 65,536 code points is valid text (spec 11), but every "<" is written as "&lt;": ~340 KB of base64
    expect(await control(h, 'POST', `/control/users/${BOB}/send`, { to: ALICE, text: '<'.repeat(65_536) })).toMatchObject({ status: 413, json: { error: 'too-large' } });
    expect(await offline()).toBe(before);
    expect(await control(h, 'POST', `/control/users/${BOB}/send`, { to: ALICE, text: 'a'.repeat(65_536) })).toMatchObject({ status: 201 });
    expect(await offline()).toBe(before + 1);
  });
});
