// Issue 4's memory proof: a 64 MiB video through encrypt → store → serve → fetch → decrypt-verify,
// byte-identical, with peak RSS under baseline + 48 MB. Sampled with a scavenge at every sample
// so that RSS reflects what Causeway holds (support/large-run.ts explains why); a file buffered
// whole anywhere would add 64 MB by itself. large-file-default-gc.test.ts records the same run
// under Node's default GC.
import { describe, expect, it } from 'vitest';
import { largeRoundTrip } from './support/large-run.ts';
import { useServiceEnv } from './support/service-env.ts';

const env = useServiceEnv();

describe('a 64 MiB video', () => {
  it('goes through with peak RSS below baseline + 48 MB (streamed, never buffered whole)', async () => {
    const { baseline, peak } = await largeRoundTrip(env, true);
    expect(peak - baseline).toBeLessThan(48 * 1024 * 1024);
  });
});
