// Two Causeway processes sharing one Redis behind a round-robin "load balancer" (the test posts to
// each in turn): every provider message reaches the hub once and in order per conversation,
// every hub message reaches the webhook, and the replicas never take a user's hub session from
// each other (the hub counts replaced sessions). Then one replica is killed with SIGKILL while
// messages are in flight: the other takes its conversations and sessions over.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../delivery/harness.ts';
import { ADA, chaosWorld, decryptedCounts, type ChaosWorld, type Sidecar } from './support.ts';

const USERS = ['ann', 'ben', 'cat', 'dan'];
const PER_USER = 30;

let w: ChaosWorld;
const replicas: Sidecar[] = [];

/** Posts one message, to replica `first` and, if it does not answer, to the others (same key). */
async function post(first: number, key: string, from: string, text: string): Promise<string> {
  for (let i = 0; i < replicas.length * 3; i++) {
    const r = replicas[(first + i) % replicas.length] as Sidecar;
    const res = await r.api('POST', '/v1/messages', { from, to: ADA, text }, { 'idempotency-key': key }).catch(() => undefined);
    if (res?.status === 202) return ((await res.json()) as { message_id: string }).message_id;
  }
  throw new Error(`no replica accepted ${key}`);
}

/** Each user posts in order; each message goes to the next replica in turn. */
async function postRoundRobin(tag: string): Promise<Map<string, string[]>> {
  const sent = new Map<string, string[]>();
  await Promise.all(USERS.map(async (u, ui) => {
    const ids: string[] = [];
    for (let i = 0; i < PER_USER; i++) ids.push(await post((ui + i) % 2, `${tag}-${u}-${i}`, u, `${u} ${tag} ${i}`));
    sent.set(u, ids);
  }));
  return sent;
}

/** Every id decrypted at the hub exactly once, and each user's in the order given. */
async function deliveredOnceInOrder(sent: Map<string, string[]>): Promise<void> {
  const all = [...sent.values()].flat();
  await eventually(async () => {
    const counts = decryptedCounts(await w.inbox());
    return all.every((id) => counts.has(id));
  }, 180_000, 'every provider message decrypted at the hub');
  await new Promise((r) => setTimeout(r, 500)); // a late duplicate would show up here
  const inbox = (await w.inbox()).filter((m) => m.decrypted);
  const counts = decryptedCounts(inbox);
  expect(all.filter((id) => counts.get(id) !== 1)).toEqual([]);
  for (const ids of sent.values()) {
    const mine = new Set(ids);
    expect(inbox.filter((m) => mine.has(m.id)).map((m) => m.id)).toEqual(ids);
  }
}

async function hubSends(n: number, tag: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await w.control('POST', `/users/${ADA}/send`, { to: `${USERS[i % USERS.length]}@birdy.interop`, text: `${tag} ${i}` })).id as string);
  return ids;
}

const allAtWebhook = (ids: string[]) => eventually(async () => ids.every((id) => w.received().has(id)), 180_000, 'every hub message at the webhook');

beforeAll(async () => {
  w = await chaosWorld('replicas');
  replicas.push(await w.sidecar(), await w.sidecar());
  for (const [i, u] of USERS.entries()) expect((await (replicas[i % 2] as Sidecar).api('PUT', `/v1/users/${u}/interop`, { enabled: true })).status).toBe(200);
}, 90_000);

afterAll(() => w.close());

describe('two replicas sharing Redis', () => {
  it('round-robin traffic: once each, in order per conversation, both ways, no session taken from the other', async () => {
    const inbound = hubSends(40, 'in');
    await deliveredOnceInOrder(await postRoundRobin('rr'));
    await allAtWebhook(await inbound);
    expect((await w.control('GET', '/stats')).sessions_replaced).toBe(0);
  }, 300_000);

  it('SIGKILL of one replica with messages in flight: the other takes its conversations and sessions over', async () => {
    const inbound = hubSends(40, 'after');
    const posting = postRoundRobin('kill');
    await new Promise((r) => setTimeout(r, 300));
    const killed = replicas[0] as Sidecar;
    killed.child.kill('SIGKILL');
    await new Promise((r) => killed.child.once('exit', r));
    await deliveredOnceInOrder(await posting);
    await allAtWebhook(await inbound);
  }, 300_000);
});
