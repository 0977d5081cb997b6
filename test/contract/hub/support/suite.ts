// Per-file wiring of the conformance suite: one hub target per test file (vitest runs files in
// separate processes), started before the tests and closed after them.
import { afterAll, beforeAll } from 'vitest';
import { startTarget, type HubTarget, type TargetOptions } from './target.ts';

export function useHub(opts: TargetOptions = {}): () => HubTarget {
  let target: HubTarget | undefined;
  beforeAll(async () => {
    target = await startTarget(opts);
  }, 30_000);
  afterAll(async () => {
    await target?.close();
  });
  return () => {
    if (target === undefined) throw new Error('hub target not started');
    return target;
  };
}
