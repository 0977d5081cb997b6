// Helpers of the spec 2 tests (2-sessions.test.ts, 2-sessions-auth.test.ts): a fresh user of
// provider birdy to open sessions as, and the check of a refused open.
import { expect } from 'vitest';
import type { FailureStanza } from '../../../../src/protocol/index.ts';
import { freshLocal } from './names.ts';
import type { OpenResult } from './provider-user.ts';

/** Spec 2: a failure stanza with `reason`, then the close code. */
export async function expectFailure(r: OpenResult, reason: FailureStanza['reason'], code: number): Promise<void> {
  expect(r.first).toEqual({ kind: 'failure', reason });
  const closed = await r.conn.closedWithin(3000);
  expect(closed.code).toBe(code);
}

export function birdyUser(): string {
  return `${freshLocal('s')}@birdy.interop`;
}
