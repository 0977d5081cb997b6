// The in-process memory of rarely changing per-message lookups (src/delivery/recent.ts).
import { describe, expect, it } from 'vitest';
import { Recent } from '../../src/delivery/recent.ts';

describe('Recent', () => {
  it('loads once within its time to live, again after it', async () => {
    const r = new Recent<number>(40);
    let loads = 0;
    const load = async () => ++loads;
    expect(await r.get('k', load)).toBe(1);
    expect(await r.get('k', load)).toBe(1);
    await new Promise((res) => setTimeout(res, 60));
    expect(await r.get('k', load)).toBe(2);
  });

  it('takes this process’s own writes at once', async () => {
    const r = new Recent<boolean>(60_000);
    expect(await r.get('alice', async () => true)).toBe(true);
    r.set('alice', false);
    expect(await r.get('alice', async () => true)).toBe(false);
    r.forget('alice');
    expect(await r.get('alice', async () => true)).toBe(true);
  });

  it('does not keep a value loaded before a write that overtook the load', async () => {
    const r = new Recent<string>(60_000);
    let release!: (v: string) => void;
    const slow = r.get('peer', () => new Promise<string>((res) => (release = res)));
    r.forget('peer'); // e.g. a safety-number hold recorded meanwhile
    release('stale');
    expect(await slow).toBe('stale'); // the caller that asked gets what was read…
    expect(await r.get('peer', async () => 'fresh')).toBe('fresh'); // …but it is not remembered
  });

  it('stays within its bound, dropping the oldest entries first', async () => {
    const r = new Recent<number>(60_000, 2);
    await r.get('a', async () => 1);
    await r.get('b', async () => 2);
    await r.get('c', async () => 3);
    let reloaded = false;
    await r.get('a', async () => ((reloaded = true), 1));
    expect(reloaded).toBe(true);
    expect(await r.get('c', async () => 99)).toBe(3);
  });
});
