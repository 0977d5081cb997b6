// The sessions test: one Causeway process holds N open hub sessions (one WebSocket per provider
// user, spec 2) and its RSS is read from /proc. The sessions are opened through the sidecar's own
// push endpoint (spec 9: a signed push makes it open the user's session to drain it), so the
// process measured is the real `causeway start` with every part loaded, not a SessionManager alone.
import { pushSignatureHeader } from '../src/protocol/index.ts';
import { rssBytes, sleep, waitFor } from './measure.ts';
import { PUSH_SECRET, type Stack } from './stack.ts';

export interface SessionsResult {
  requested: number;
  open: number;
  /** Pushes Causeway did not accept (202). */
  refused: number;
  seconds: number;
  rssBaselineBytes: number;
  rssBytes: number;
}

export async function holdSessions(stack: Stack, n: number, deadlineMs: number): Promise<SessionsResult> {
  const before = stack.hub.core.sessions.size;
  await sleep(1000);
  const rssBaselineBytes = rssBytes(stack.pid);
  const t0 = Date.now();
  let next = 0;
  let refused = 0;
  const pusher = async (): Promise<void> => {
    while (next < n && Date.now() - t0 < deadlineMs) {
      const body = JSON.stringify({ user: `s${String(next++).padStart(6, '0')}@birdy.interop`, pending: 1 });
      const header = pushSignatureHeader(PUSH_SECRET, Math.floor(Date.now() / 1000), body);
      const r = await stack.api.send('POST', '/hub/push', body, { 'x-hub-signature': header }).catch(() => undefined);
      if (r?.status !== 202) refused++;
    }
  };
  await Promise.all(Array.from({ length: 32 }, pusher));
  const remaining = Math.max(1000, deadlineMs - (Date.now() - t0));
  await waitFor(() => stack.hub.core.sessions.size - before >= n - refused, remaining, 100);
  const seconds = (Date.now() - t0) / 1000;
  await sleep(2000); // let allocation settle before reading RSS
  return {
    requested: n, open: stack.hub.core.sessions.size - before, refused, seconds,
    rssBaselineBytes, rssBytes: rssBytes(stack.pid),
  };
}
