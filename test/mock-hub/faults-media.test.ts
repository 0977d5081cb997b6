import { describe, expect, it } from 'vitest';
import { Faults } from '../../src/mock-hub/faults.ts';
import { MediaError, decryptMedia, encryptMedia, mediaResponse } from '../../src/mock-hub/media.ts';
import { Timers } from '../../src/mock-hub/timers.ts';

describe('faults', () => {
  it('holds deliveries while routing is stopped and releases them on clear', () => {
    const timers = new Timers();
    const f = new Faults(timers, () => 0.5);
    const done: number[] = [];
    expect(f.route(() => done.push(1))).toBe(false);
    f.set({ stop_routing_for_s: 60 });
    expect(f.route(() => done.push(2))).toBe(true);
    expect(done).toEqual([1]);
    expect(f.snapshot()).toMatchObject({ routing_stopped: true, held: 1 });
    f.clear();
    expect(done).toEqual([1, 2]);
    timers.close();
  });

  it('releases held deliveries when the period ends', async () => {
    const timers = new Timers();
    const f = new Faults(timers);
    const done: number[] = [];
    f.set({ stop_routing_for_s: 0.05 });
    f.route(() => done.push(1));
    await new Promise((r) => setTimeout(r, 120));
    expect(done).toEqual([1]);
    timers.close();
  });

  it('injects errors and drops acks at the configured rate', () => {
    const timers = new Timers();
    let r = 0.3;
    const f = new Faults(timers, () => r);
    expect(f.injectedError()).toBeUndefined();
    f.set({ error: { rate: 0.5, code: 429, retry_after: 7 }, drop_acks_rate: 0.5, ack_delay_ms: 20, refuse_sessions_for_s: 10 });
    expect(f.injectedError()).toEqual({ code: 429, reason: 'rate-limited', retryAfter: 7 });
    expect(f.dropAck()).toBe(true);
    expect(f.ackDelayMs()).toBe(20);
    expect(f.refusingSessions()).toBe(true);
    expect(f.refuseRetryAfterS()).toBe(10);
    r = 0.7;
    expect(f.injectedError()).toBeUndefined();
    expect(f.dropAck()).toBe(false);
    f.set({ error: { rate: 1, code: 503 } });
    expect(f.injectedError()).toEqual({ code: 503, reason: 'unavailable' });
    expect(f.refusingSessions()).toBe(false);
    timers.close();
  });
});

describe('media (spec 11.1)', () => {
  it('encrypts with AES-256-GCM and verifies enc-sha256, size and sha256', () => {
    const plain = new TextEncoder().encode('a picture, honestly');
    const e = encryptMedia(plain);
    expect(e.blob.length).toBe(plain.length + 16);
    const ref = { key: e.key, nonce: e.nonce, size: plain.length, sha256: e.sha256, encSha256: e.encSha256 };
    expect(Buffer.from(decryptMedia(ref, e.blob)).toString()).toBe('a picture, honestly');
    const tampered = new Uint8Array(e.blob);
    tampered[0] = tampered[0]! ^ 1;
    expect(() => decryptMedia(ref, tampered)).toThrow(/enc-sha256/);
    expect(() => decryptMedia({ ...ref, size: 3 }, e.blob)).toThrow(MediaError);
    expect(() => decryptMedia({ ...ref, key: new Uint8Array(32) }, e.blob)).toThrow(/decryption/);
  });

  it('serves ranges', async () => {
    const blob = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const full = mediaResponse(blob, undefined);
    expect(full.status).toBe(200);
    expect(new Uint8Array(await full.arrayBuffer())).toEqual(blob);
    const part = mediaResponse(blob, 'bytes=2-4');
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 2-4/10');
    expect([...new Uint8Array(await part.arrayBuffer())]).toEqual([2, 3, 4]);
    expect([...new Uint8Array(await mediaResponse(blob, 'bytes=8-').arrayBuffer())]).toEqual([8, 9]);
    expect([...new Uint8Array(await mediaResponse(blob, 'bytes=-3').arrayBuffer())]).toEqual([7, 8, 9]);
    expect(mediaResponse(blob, 'bytes=10-').status).toBe(416);
    expect(mediaResponse(blob, 'bytes=5-2').status).toBe(416);
    expect(mediaResponse(blob, 'items=1-2').status).toBe(416);
  });
});
