// The control API (docs/mock-hub.md): JSON over HTTP under /control, every route behind
// `Authorization: Bearer <admin_token>` (401 otherwise), for tests and demos to drive the
// simulated hub users, providers and faults and to read what happened. Also /healthz and the
// hub-hosted media at /media/{token}.
import { timingSafeEqual, createHash } from 'node:crypto';
import { Hono } from 'hono';
import type { Context } from 'hono';
import { mockHubProviderSchema } from './config.ts';
import { check, faultsBody } from './control-schemas.ts';
import { userRoutes } from './control-users.ts';
import type { HubCore } from './hub.ts';
import { mediaResponse } from './media.ts';
import { notifyProviders } from './notify.ts';

export function controlApp(core: HubCore): Hono {
  const app = new Hono();
  const { directory } = core;
  const expected = digest(core.config.admin_token.reveal());

  app.get('/healthz', (c) => c.json({ ok: true }));

  app.get('/media/:token', (c) => {
    const blob = core.media.get(c.req.param('token'));
    if (blob === undefined) return c.json({ error: 'not found' }, 404);
    return mediaResponse(blob, c.req.header('range'));
  });

  app.use('/control/*', async (c, next) => {
    const m = /^Bearer (.+)$/.exec(c.req.header('authorization') ?? '');
    if (m === null || !timingSafeEqual(digest(m[1] ?? ''), expected)) return c.json({ error: 'unauthorized' }, 401);
    await next();
  });

  userRoutes(app, core);

  app.get('/control/providers', (c) =>
    c.json({
      providers: [...directory.providers.values()].map((p) => ({
        id: p.id, name: p.name, delisted: p.delisted, jwks_url: p.jwksUrl ?? null, push_url: p.pushUrl ?? null,
        sessions: core.sessions.ofProvider(p.id).length,
      })),
    }));

  app.post('/control/providers', async (c) => {
    const json = await jsonBody(c);
    if (json === undefined) return c.json({ error: 'the body must be JSON', field: 'body' }, 400);
    const r = check(mockHubProviderSchema, json);
    if (!r.ok) return c.json({ error: r.error, field: r.field }, 400);
    const existing = directory.provider(r.value.id);
    if (existing !== undefined && !existing.delisted) return c.json({ error: 'provider exists', field: 'id' }, 409);
    const p = core.addProvider(r.value);
    notifyProviders(core, p);
    return c.json({ id: p.id, name: p.name }, 201);
  });

  app.delete('/control/providers/:id', (c) => {
    const p = directory.provider(c.req.param('id'));
    if (p === undefined) return c.json({ error: 'no such provider' }, 404);
    p.delisted = true;
    for (const s of core.sessions.ofProvider(p.id)) s.fail('delisted');
    return c.json({ id: p.id, delisted: true });
  });

  app.get('/control/provider-users/:jid', (c) => {
    const jid = decodeURIComponent(c.req.param('jid'));
    const pu = directory.providerUser(jid);
    if (pu === undefined) return c.json({ error: 'no such provider user' }, 404);
    const counts = core.prekeys.count(jid);
    return c.json({
      jid, enlisted: pu.enlisted, has_keys: core.prekeys.has(jid), prekeys: { ec: counts.ec, kyber: counts.kyber },
      session_open: core.sessions.get(jid) !== undefined, offline: core.mailboxes.pending(jid),
    });
  });

  app.get('/control/pushes', (c) => c.json({ pushes: core.pusher.records }));

  app.get('/control/faults', (c) => c.json({ faults: core.faults.snapshot() }));
  app.put('/control/faults', async (c) => {
    const json = await jsonBody(c);
    if (json === undefined) return c.json({ error: 'the body must be JSON', field: 'body' }, 400);
    const r = check(faultsBody, json);
    if (!r.ok) return c.json({ error: r.error, field: r.field }, 400);
    core.faults.set(r.value);
    return c.json({ faults: core.faults.snapshot() });
  });
  app.delete('/control/faults', (c) => {
    core.faults.clear();
    return c.json({ faults: core.faults.snapshot() });
  });

  app.get('/control/stats', (c) => c.json({ sessions: core.sessions.size, ...core.counters }));

  app.notFound((c) => c.json({ error: 'not found' }, 404));
  app.onError((err, c) => {
    core.log.error({ err, path: c.req.path }, 'control API error');
    return c.json({ error: 'internal error' }, 500);
  });
  return app;
}

async function jsonBody(c: Context): Promise<unknown> {
  try {
    return (await c.req.json()) as unknown;
  } catch {
    return undefined;
  }
}

/** Fixed-length digests so that timingSafeEqual can compare tokens of any length. */
function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
