// The two measured paths through the whole stack:
// - outbound: POST /v1/messages accepted by Causeway → the hub user's device has it (the mock
//   hub's inbox entry, `received_at_ms`);
// - inbound: a hub user's message released by the hub → the provider's webhook has it.
// Messages are spread over every (provider user, hub user) conversation, so the sidecar's
// per-conversation lanes and per-session order do not serialize the run. Inbound messages are
// encrypted by the simulated hub users ahead of time (prepareSend) and only released in the
// timed part, so the hub's own encryption is not charged to the sidecar's CPU core.
import type { InboxEntry } from '../src/mock-hub/index.ts';
import type { HubUser } from '../src/mock-hub/directory.ts';
import { BENCH_TEXT } from './ceilings.ts';
import { Driver, type DriveResult } from './drive.ts';
import { waitFor } from './measure.ts';
import type { Stack } from './stack.ts';

export interface RunOptions {
  count: number;
  /** Closed loop: messages in flight at most. */
  window?: number;
  /** Open loop: messages per second. */
  rate?: number;
  deadlineMs: number;
  /** Called right before the first message starts (after inbound messages were encrypted ahead). */
  beforeStart?: () => void;
  /** Outbound, closed loop: messages per POST /v1/messages/batch instead of one POST /v1/messages each. */
  batch?: number;
}

/** What the hub's devices did with what arrived (bench mode decrypts a sample of sessions). */
export interface HubCheck {
  decrypted: number;
  skipped: number;
  errors: number;
}

let runs = 0;

function lane(stack: Stack, i: number): { provider: string; hubUser: HubUser } {
  const u = stack.providers.length;
  const l = i % (u * stack.hubUsers.length);
  return { provider: stack.providers[l % u] as string, hubUser: stack.hubUsers[Math.floor(l / u)] as HubUser };
}

export async function outbound(stack: Stack, o: RunOptions): Promise<DriveResult & { hub: HubCheck }> {
  const run = ++runs;
  const driver = new Driver();
  const hub: HubCheck = { decrypted: 0, skipped: 0, errors: 0 };
  const stop = stack.hub.core.sim.onInbox((_jid: string, e: InboxEntry) => {
    if (e.decrypted) hub.decrypted++;
    else if (e.skipped) hub.skipped++;
    if (e.error !== undefined) hub.errors++;
    // A message reaches all of a hub user's devices at once: its arrival is the first device's.
    if (e.device === 0) driver.arrived(e.id, e.received_at_ms);
  });
  try {
    o.beforeStart?.();
    const key = (i: number): string => `bench-${process.pid}-${run}-${i}`;
    const { batch, ...run0 } = o;
    const result = await driver.run({
      ...run0,
      start: async (i) => {
        const { provider, hubUser } = lane(stack, i);
        const r = await stack.api.send('POST', '/v1/messages', { from: provider, to: hubUser.jid, text: BENCH_TEXT }, { 'idempotency-key': key(i) });
        if (r.status !== 202 || typeof r.body.message_id !== 'string') throw new Error(`POST /v1/messages answered ${r.status}`);
        return r.body.message_id;
      },
      ...(batch !== undefined ? { batch: { size: batch, startMany: (first: number, n: number) => sendBatch(stack, first, n, key) } } : {}),
    });
    return { ...result, hub };
  } finally {
    stop();
  }
}

/** Messages first … first+n−1 in one POST /v1/messages/batch; their ids in order. */
async function sendBatch(stack: Stack, first: number, n: number, key: (i: number) => string): Promise<string[]> {
  const messages = Array.from({ length: n }, (_, k) => {
    const { provider, hubUser } = lane(stack, first + k);
    return { idempotency_key: key(first + k), from: provider, to: hubUser.jid, text: BENCH_TEXT };
  });
  const r = await stack.api.send('POST', '/v1/messages/batch', { messages });
  const results = r.body.results as Array<{ status: string; message_id?: string }> | undefined;
  if (r.status !== 200 || results?.length !== n || results.some((x) => x.status !== 'queued' || typeof x.message_id !== 'string')) {
    throw new Error(`POST /v1/messages/batch answered ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
  }
  return results.map((x) => x.message_id as string);
}

export async function inbound(stack: Stack, o: RunOptions): Promise<DriveResult> {
  const sim = stack.hub.core.sim;
  // Encrypt ahead: calls are issued in index order, so each device's chain keeps that order.
  const prepared = await Promise.all(Array.from({ length: o.count }, (_, i) => {
    const { provider, hubUser } = lane(stack, i);
    return sim.prepareSend(hubUser, { to: `${provider}@birdy.interop`, text: BENCH_TEXT });
  }));
  const driver = new Driver();
  stack.receiver.observe((id, at) => driver.arrived(id, at));
  try {
    o.beforeStart?.();
    const { batch: _outboundOnly, ...run0 } = o;
    return await driver.run({
      ...run0,
      start: async (i) => {
        const p = prepared[i];
        if (p === undefined || !p.ok) throw new Error(`hub send ${i} not prepared: ${p && !p.ok ? p.error : 'missing'}`);
        p.release();
        return p.id;
      },
    });
  } finally {
    stack.receiver.observe(undefined);
  }
}

/**
 * Opens every conversation both ways so that the timed runs see steady sessions: one message per
 * (provider user, hub user) out (bundle fetch, PQXDH, the hub device decrypts the PreKey message)
 * and one back (the sidecar decrypts; its sessions are acknowledged, so it sends `msg`, not
 * `pkmsg`, from then on: the regime of the libsignal ceiling).
 */
export async function warmUp(stack: Stack, deadlineMs: number): Promise<{ outbound: DriveResult; inbound: DriveResult }> {
  const lanes = stack.providers.length * stack.hubUsers.length;
  const out = await outbound(stack, { count: lanes, window: 256, deadlineMs });
  const back = await inbound(stack, { count: lanes, window: 256, deadlineMs });
  await settle(stack, lanes, deadlineMs);
  return { outbound: out, inbound: back };
}

/** Waits until the sidecar reported `sent` for `expectedSent` messages in all, and went quiet. */
export async function settle(stack: Stack, expectedSent: number, deadlineMs: number): Promise<boolean> {
  const ok = await waitFor(() => stack.receiver.status('sent') >= expectedSent, deadlineMs, 100);
  let last = -1;
  await waitFor(() => {
    const now = stack.receiver.received + stack.receiver.status('sent');
    const quiet = now === last;
    last = now;
    return quiet;
  }, 10_000, 500);
  return ok;
}
