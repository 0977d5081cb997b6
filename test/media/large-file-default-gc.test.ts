// The 64 MiB round trip under Node's default GC, in its own process: RSS then also holds dead
// stream buffers V8 collects lazily (about 60 MB here, the same for 16 MB or 128 MB files), so the
// bound is looser: it still fails if the file were held whole (64 MB live plus that lag).
import { describe, expect, it } from 'vitest';
import { largeRoundTrip } from './support/large-run.ts';
import { useServiceEnv } from './support/service-env.ts';

const env = useServiceEnv();

describe('a 64 MiB video, default GC', () => {
  it('goes through with peak RSS below baseline + 112 MB', async () => {
    const { baseline, peak } = await largeRoundTrip(env, false);
    expect(peak - baseline).toBeLessThan(112 * 1024 * 1024);
  });
});
