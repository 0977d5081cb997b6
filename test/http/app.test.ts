import { createServer } from 'node:net';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Secret } from '../../src/config/secret.ts';
import { createApp } from '../../src/http/app.ts';
import { probeHub } from '../../src/hub/reachability.ts';

function app(over: { ready?: boolean; accepting?: boolean; token?: string; failed?: string[] } = {}) {
  const registry = new Registry();
  return createApp({
    jwks: () => ({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'abc', kid: 'k1' }] }),
    metrics: { registry, path: '/metrics', enabled: true, ...(over.token ? { token: new Secret(over.token, 'test') } : {}) },
    readiness: [
      { name: 'redis', check: async () => undefined },
      { name: 'hub', check: async () => { if (over.ready === false) throw new Error('hub unreachable'); } },
    ],
    accepting: () => over.accepting ?? true,
    onCheckFailed: (name, err) => over.failed?.push(`${name}: ${err.message}`),
  });
}

describe('HTTP surface', () => {
  it('answers liveness and the public JWKS without credentials', async () => {
    expect((await app().request('/healthz')).status).toBe(200);
    const jwks = await app().request('/.well-known/jwks.json');
    expect(jwks.status).toBe(200);
    expect(((await jwks.json()) as { keys: Array<{ kid: string }> }).keys[0]?.kid).toBe('k1');
  });

  it('reports readiness per check, and 503 while draining', async () => {
    const ok = await app().request('/readyz');
    expect(ok.status).toBe(200);
    const failed: string[] = [];
    const bad = await app({ ready: false, failed }).request('/readyz');
    expect(bad.status).toBe(503);
    const body = await bad.text();
    expect(JSON.parse(body)).toMatchObject({ ok: false, checks: { redis: 'ok', hub: 'failed' } });
    expect(body).not.toContain('hub unreachable'); // the reason goes to the log only
    expect(failed).toEqual(['hub: hub unreachable']);
    expect((await app({ accepting: false }).request('/readyz')).status).toBe(503);
  });

  it('guards /metrics with the metrics token, and keeps it closed without one', async () => {
    expect((await app({ token: 's3cret-token' }).request('/metrics')).status).toBe(401);
    expect((await app({ token: 's3cret-token' }).request('/metrics', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const good = await app({ token: 's3cret-token' }).request('/metrics', { headers: { authorization: 'Bearer s3cret-token' } });
    expect(good.status).toBe(200);
    expect((await app().request('/metrics', { headers: { authorization: 'Bearer anything' } })).status).toBe(401);
  });

  it('probes the hub over TCP', async () => {
    const server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await expect(probeHub(`ws://127.0.0.1:${port}`)).resolves.toBeUndefined();
    await new Promise((r) => server.close(r));
    await expect(probeHub(`ws://127.0.0.1:${port}`, 500)).rejects.toThrow(/unreachable|did not answer/);
  });
});
