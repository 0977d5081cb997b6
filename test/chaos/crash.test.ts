// Crash: with messages in flight both ways, the Causeway process is killed with SIGKILL and
// started again. Every provider message accepted (202) is delivered to the hub exactly once
// (counted on the hub side), every hub message reaches the provider's webhook, nothing is stuck.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../delivery/harness.ts';
import { ADA, chaosWorld, decryptedCounts, exitOf, postMessage, type ChaosWorld, type Sidecar } from './support.ts';

const N = Number(process.env.CAUSEWAY_CRASH_MESSAGES ?? 1000);
const USERS = ['ann', 'ben', 'cat', 'dan'];

let w: ChaosWorld;
let c: Sidecar;

beforeAll(async () => {
  w = await chaosWorld('crash');
  c = await w.sidecar();
  for (const u of USERS) expect((await c.api('PUT', `/v1/users/${u}/interop`, { enabled: true })).status).toBe(200);
}, 60_000);

afterAll(() => w?.close());

describe('crash with messages in flight', () => {
  it(`SIGKILL with ${N} messages each way in flight: nothing lost, nothing twice, nothing stuck`, async () => {
    const keys = Array.from({ length: N }, (_, i) => ({ key: `crash-${i}`, from: USERS[i % USERS.length] as string, text: `out ${i}` }));
    const accepted = new Map<string, string>();
    const post = (k: (typeof keys)[number]) => postMessage(c, k, accepted);
    // hub → provider traffic, sent by the hub user while Causeway runs, crashes and comes back
    const inboundIds: string[] = [];
    const hubSends = (async () => {
      for (let i = 0; i < N; i++) {
        const r = await w.control('POST', `/users/${ADA}/send`, { to: `${USERS[i % USERS.length]}@birdy.interop`, text: `in ${i}` });
        inboundIds.push(r.id as string);
      }
    })();
    // provider → hub: fire everything, kill the process while it is being worked on
    const posting = Promise.all(keys.map((k) => post(k)));
    await eventually(async () => accepted.size >= N / 4, 30_000, 'a quarter accepted');
    const exited = exitOf(c.child);
    c.child.kill('SIGKILL');
    await exited;
    await posting;
    const acceptedBeforeCrash = accepted.size;
    c.restart();
    await c.ready();
    // the provider retries what it got no 202 for, with the same idempotency keys
    for (const k of keys) if (!accepted.has(k.key)) await post(k);
    expect(accepted.size).toBe(N);
    await hubSends;

    // every accepted message reaches the hub (decrypted by the hub user's device) exactly once
    const outIds = [...accepted.values()];
    await eventually(async () => {
      const counts = decryptedCounts(await w.inbox());
      return outIds.every((id) => (counts.get(id) ?? 0) >= 1);
    }, 240_000, 'every provider message decrypted at the hub');
    await new Promise((r) => setTimeout(r, 1000)); // a late duplicate would show up here
    const inbox = await w.inbox();
    const counts = decryptedCounts(inbox);
    expect(outIds.filter((id) => counts.get(id) !== 1)).toEqual([]);
    const retried = inbox.filter((m) => !m.decrypted).length;

    // every hub message reaches the provider's webhook (at least once; event ids dedupe)
    await eventually(async () => inboundIds.every((id) => w.received().has(id)), 240_000, 'every hub message at the webhook');

    // nothing stuck: every message's status history ends in sent
    await eventually(async () => {
      for (const k of keys) {
        const r = (await (await c.api('GET', `/v1/messages/${k.key}`)).json()) as { statuses?: Array<{ state: string }> };
        if (!r.statuses?.some((s) => s.state === 'sent')) return false;
      }
      return true;
    }, 120_000, 'all sent');
    console.log(`crash test: ${acceptedBeforeCrash} of ${N} outbound accepted before SIGKILL; ${N} inbound; ${retried} hub-side decrypt failures answered by retry receipts`);
  }, 600_000);
});
