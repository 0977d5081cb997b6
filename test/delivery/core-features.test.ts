// Core's part in the hub-features upkeep (src/core.ts): start() starts the store's periodic check
// over the session manager's open sessions, and close() stops it. The check itself is tested on
// the store (test/hub/features-store.test.ts).
import { afterAll, expect, it, vi } from 'vitest';
import { HubFeaturesStore } from '../../src/hub/features.ts';
import type { HubConnection } from '../../src/hub/connection.ts';
import { harness, QUIET_ADA } from './harness.ts';

const start = vi.spyOn(HubFeaturesStore.prototype, 'start');
afterAll(() => start.mockRestore());

it('Core.start hands the periodic features check the open hub sessions; Core.close stops it', async () => {
  const h = await harness({ users: [QUIET_ADA] });
  try {
    expect(start).toHaveBeenCalledTimes(1);
    expect(start.mock.contexts[0]).toBe(h.core.hubFeatures);
    const openSessions = start.mock.calls[0]?.[0] as () => readonly HubConnection[];
    expect(openSessions()).toEqual([]);

    await h.core.setInterop('rec', 'alice', true);
    const conn = await h.sessions.get('alice@birdy.interop');
    expect(openSessions()).toEqual([conn]); // the live list, not a copy taken at start

    const close = vi.spyOn(h.core.hubFeatures, 'close');
    await h.core.close();
    expect(close).toHaveBeenCalledTimes(1);
  } finally {
    await h.close();
  }
});
