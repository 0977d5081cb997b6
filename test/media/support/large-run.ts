// The 64 MiB round trip of issue 4's memory proof, with resident memory sampled while it runs:
// provider stream → spool → inspect → encrypt → fs store → HTTP /media/{token} → fetch →
// decrypt → verify. Each test file runs in its own process (vitest forks), so the two GC modes
// never share a heap.
//
// RSS counts dead buffers V8 has not collected yet: Node allocates every stream chunk as an
// ArrayBuffer outside the JS heap, and V8 lets such external garbage grow to about 64 MB before it
// collects, whatever the file size. `promptGc` runs a young-generation collection (a scavenge) at
// every sample, so that RSS shows what the code holds instead of that collection lag.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect } from 'vitest';
import { fakeMp4Stream, png } from './fixtures.ts';
import type { ServiceEnv } from './service-env.ts';

export const SIZE = 64 * 1024 * 1024;

async function fileSha256(path: string): Promise<Buffer> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest();
}

function exposedGc(): (o?: { type: 'minor' | 'major' }) => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as (o?: { type: 'minor' | 'major' }) => void;
}

export async function largeRoundTrip(env: ServiceEnv, promptGc: boolean): Promise<{ baseline: number; peak: number; seconds: number }> {
  const gc = promptGc ? exposedGc() : undefined;
  // Warm up every code path (modules, HTTP agent, parsers) so the baseline includes them.
  const warm = await env.media.prepareOutbound({ kind: 'image', declaredMime: 'image/png', source: png(8, 8) });
  await (await env.media.fetchInbound(warm.ref)).dispose();
  gc?.();

  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const sampler = setInterval(() => {
    gc?.({ type: 'minor' });
    peak = Math.max(peak, process.memoryUsage.rss());
  }, promptGc ? 20 : 5);
  const t0 = performance.now();
  try {
    const video = fakeMp4Stream(SIZE);
    const { ref } = await env.media.prepareOutbound({ kind: 'video', declaredMime: 'video/mp4', filename: 'big.mp4', source: video.stream });
    expect(ref).toMatchObject({ kind: 'video', mime: 'video/mp4', size: SIZE, filename: 'big.mp4' });
    expect(Buffer.from(ref.sha256)).toEqual(video.digest());

    const inbound = await env.media.fetchInbound(ref);
    expect(inbound.size).toBe(SIZE);
    expect(await fileSha256(inbound.path)).toEqual(video.digest());
    await inbound.dispose();
  } finally {
    clearInterval(sampler);
  }
  peak = Math.max(peak, process.memoryUsage.rss());
  const seconds = (performance.now() - t0) / 1000;
  const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
  console.log(`64 MiB video round trip (${promptGc ? 'prompt scavenges' : 'default GC'}): ${seconds.toFixed(2)} s, RSS baseline ${mb(baseline)} MB, peak ${mb(peak)} MB (+${mb(peak - baseline)} MB)`);
  expect(await env.tempFiles()).toEqual([]);
  return { baseline, peak, seconds };
}
