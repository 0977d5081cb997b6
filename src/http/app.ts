// The sidecar's own HTTP surface (Hono): liveness, readiness, Prometheus metrics and the provider's
// JWKS. /healthz, /readyz and the JWKS carry no secrets and are public by nature (probes and the
// hub must reach them); /metrics requires the metrics token. Adapters mount their routes on the
// same app under their own prefixes, each with its own authentication.
import { Hono } from 'hono';
import type { Registry } from 'prom-client';
import type { Secret } from '../config/secret.ts';
import { bearerAuth } from './auth.ts';

export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

export interface AppDeps {
  jwks: () => unknown;
  metrics: { registry: Registry; path: string; token?: Secret; enabled: boolean };
  readiness: ReadinessCheck[];
  /** False once shutdown began: /readyz answers 503 so load balancers drain us. */
  accepting: () => boolean;
  /** Told why a readiness check failed: /readyz is public, so it says only which one failed. */
  onCheckFailed?: (name: string, err: Error) => void;
}

export function createApp(d: AppDeps): Hono {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/readyz', async (c) => {
    const results = await Promise.all(
      d.readiness.map(async (r) => {
        try {
          await r.check();
          return [r.name, 'ok'] as const;
        } catch (err) {
          // The reason (an address, a host name) is for the log, not for anyone who can reach us.
          d.onCheckFailed?.(r.name, err as Error);
          return [r.name, 'failed'] as const;
        }
      }),
    );
    const ok = d.accepting() && results.every(([, v]) => v === 'ok');
    return c.json({ ok, accepting: d.accepting(), checks: Object.fromEntries(results) }, ok ? 200 : 503);
  });
  app.get('/.well-known/jwks.json', (c) => {
    c.header('Cache-Control', 'public, max-age=300');
    return c.json(d.jwks() as object);
  });
  if (d.metrics.enabled) {
    app.get(d.metrics.path, bearerAuth(d.metrics.token ? [d.metrics.token] : [], 'metrics'), async (c) => {
      c.header('Content-Type', d.metrics.registry.contentType);
      return c.body(await d.metrics.registry.metrics());
    });
  }
  app.notFound((c) => c.json({ error: 'not found' }, 404));
  app.onError((err, c) => c.json({ error: 'internal error', detail: err.name }, 500));
  return app;
}
