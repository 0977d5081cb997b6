// Control API routes about hub users (simulated): create, inspect, devices, third-party opt-in,
// identity resets, blocks, script, scripted sends and receipts, inbox and received receipts.
// Changes that spec 8 announces are notified to the provider users who are contacts.
import type { Context, Hono } from 'hono';
import { fromBase64, parseAddress, toBase64 } from '../protocol/index.ts';
import type { z } from 'zod';
import { blockBody, check, createUserBody, deviceBody, receiptsBody, scriptBody, sendBody, thirdPartyBody } from './control-schemas.ts';
import type { HubUser } from './directory.ts';
import type { HubCore } from './hub.ts';
import { notifyDevices, notifyIdentity, notifyInterop, reachability } from './notify.ts';

type Json = Record<string, unknown>;

export function userRoutes(app: Hono, core: HubCore): void {
  const { directory, sim } = core;

  /** Resolves `447700900123@hub`, `447700900123` or `+447700900123`. */
  const find = (c: Context): HubUser | undefined => {
    const raw = decodeURIComponent(c.req.param('jid') ?? '');
    const digits = raw.replace(/^\+/, '').replace(/@hub$/, '');
    return directory.hubUser(`${digits}@hub`);
  };
  const notFound = (c: Context): Response => c.json({ error: 'no such user' }, 404);
  const body = async <S extends z.ZodType>(c: Context, schema: S): Promise<{ ok: true; value: z.output<S> } | { ok: false; res: Response }> => {
    let json: unknown;
    try {
      json = await c.req.json();
    } catch {
      return { ok: false, res: c.json({ error: 'the body must be JSON', field: 'body' }, 400) };
    }
    const r = check(schema, json);
    return r.ok ? r : { ok: false, res: c.json({ error: r.error, field: r.field }, 400) };
  };
  const view = (u: HubUser): Json => ({
    jid: u.jid,
    phone: `+${u.digits}`,
    name: u.name ?? null,
    devices: u.devices.map((n) => ({ id: n, identity: toBase64(sim.device(u, n)?.identityKey() ?? new Uint8Array()) })),
    third_party: { enabled: u.thirdParty.enabled, providers: [...u.thirdParty.providers] },
    blocked: directory.blockedList(u),
    script: { ...u.script },
  });

  app.get('/control/users', (c) => c.json({ users: [...directory.hubUsers.values()].map(view) }));

  app.post('/control/users', async (c) => {
    const b = await body(c, createUserBody);
    if (!b.ok) return b.res;
    const v = b.value;
    const digits = v.phone.replace(/^\+/, '');
    if (directory.hubUser(`${digits}@hub`) !== undefined) return c.json({ error: 'user exists', field: 'phone' }, 409);
    const devices = v.devices ?? [0];
    const u = await sim.createUser({
      digits, devices,
      thirdParty: v.third_party ?? { enabled: true, providers: ['*'] },
      script: { echo: false, receipts: true, read: false, delay_ms: 0, ...stripUndefined(v.script ?? {}) },
      ...(v.name === undefined ? {} : { name: v.name }),
    });
    return c.json({ jid: u.jid, devices: u.devices }, 201);
  });

  app.get('/control/users/:jid', (c) => {
    const u = find(c);
    return u === undefined ? notFound(c) : c.json(view(u));
  });

  app.post('/control/users/:jid/devices', async (c) => {
    const u = find(c);
    if (u === undefined) return notFound(c);
    const b = await body(c, deviceBody);
    if (!b.ok) return b.res;
    const n = b.value.device ?? directory.nextDevice(u);
    if (u.devices.includes(n)) return c.json({ error: 'device exists', field: 'device' }, 409);
    await sim.addDevice(u, n);
    notifyDevices(core, u);
    return c.json({ device: n, dhash: directory.dhash(u) }, 201);
  });

  app.delete('/control/users/:jid/devices/:n', (c) => {
    const u = find(c);
    if (u === undefined) return notFound(c);
    const n = Number(c.req.param('n'));
    if (!u.devices.includes(n)) return c.json({ error: 'no such device', field: 'device' }, 404);
    if (u.devices.length === 1) return c.json({ error: 'cannot remove the last device', field: 'device' }, 409);
    sim.removeDevice(u, n);
    notifyDevices(core, u);
    return c.json({ dhash: directory.dhash(u) });
  });

  app.put('/control/users/:jid/third-party', async (c) => {
    const u = find(c);
    if (u === undefined) return notFound(c);
    const b = await body(c, thirdPartyBody);
    if (!b.ok) return b.res;
    const before = reachability(core, u);
    u.thirdParty = { enabled: b.value.enabled, providers: b.value.providers ?? u.thirdParty.providers };
    notifyInterop(core, u, before);
    return c.json({ third_party: u.thirdParty });
  });

  app.post('/control/users/:jid/identity', async (c) => {
    const u = find(c);
    if (u === undefined) return notFound(c);
    const b = await body(c, deviceBody);
    if (!b.ok) return b.res;
    if (b.value.device !== undefined && !u.devices.includes(b.value.device)) return c.json({ error: 'no such device', field: 'device' }, 404);
    await sim.resetIdentity(u, b.value.device);
    notifyIdentity(core, u);
    return c.json({ devices: view(u)['devices'] });
  });

  const block = (on: boolean) => async (c: Context): Promise<Response> => {
    const u = find(c);
    if (u === undefined) return notFound(c);
    const b = await body(c, blockBody);
    if (!b.ok) return b.res;
    const { user, provider } = b.value;
    if (user !== undefined && parseAddress(user)?.kind !== 'provider-user') return c.json({ error: 'not a provider user address', field: 'user' }, 400);
    if (user !== undefined) {
      if (on) u.blockedUsers.add(user);
      else u.blockedUsers.delete(user);
    }
    if (provider !== undefined) {
      if (on) u.blockedProviders.add(provider);
      else u.blockedProviders.delete(provider);
    }
    return c.json({ blocked: directory.blockedList(u) });
  };
  app.post('/control/users/:jid/block', block(true));
  app.delete('/control/users/:jid/block', block(false));

  app.put('/control/users/:jid/script', async (c) => {
    const u = find(c);
    if (u === undefined) return notFound(c);
    const b = await body(c, scriptBody);
    if (!b.ok) return b.res;
    u.script = { ...u.script, ...stripUndefined(b.value) };
    return c.json({ script: u.script });
  });

  app.post('/control/users/:jid/send', async (c) => {
    const u = find(c);
    if (u === undefined) return notFound(c);
    const b = await body(c, sendBody);
    if (!b.ok) return b.res;
    const v = b.value;
    let data: Uint8Array | undefined;
    if (v.media !== undefined) {
      try {
        data = fromBase64(v.media.data);
      } catch {
        return c.json({ error: 'not base64', field: 'media.data' }, 400);
      }
    }
    const r = await sim.send(u, {
      to: v.to,
      ...(v.text === undefined ? {} : { text: v.text }),
      ...(v.media === undefined || data === undefined ? {} : {
        media: { kind: v.media.kind, mime: v.media.mime, data, ...(v.media.filename === undefined ? {} : { filename: v.media.filename }) },
      }),
      ...(v.reply_to === undefined ? {} : { reply_to: v.reply_to }),
      ...(v.from_device === undefined ? {} : { from_device: v.from_device }),
    });
    return r.ok ? c.json({ id: r.id }, 201) : c.json({ error: r.error, ...(r.field === undefined ? {} : { field: r.field }) }, r.status);
  });

  app.post('/control/users/:jid/receipts', async (c) => {
    const u = find(c);
    if (u === undefined) return notFound(c);
    const b = await body(c, receiptsBody);
    if (!b.ok) return b.res;
    const r = sim.sendReceipts(u, b.value.to, b.value.ids, b.value.type);
    return r.ok ? c.json({ sent: r.sent }) : c.json({ error: r.error, ...(r.field === undefined ? {} : { field: r.field }) }, r.status);
  });

  app.get('/control/users/:jid/inbox', async (c) => {
    const u = find(c);
    if (u === undefined) return notFound(c);
    return c.json({ messages: sim.inbox(u.jid) });
  });

  app.delete('/control/users/:jid/inbox', (c) => {
    const u = find(c);
    return u === undefined ? notFound(c) : c.json({ cleared: sim.clearInbox(u.jid) });
  });

  app.get('/control/users/:jid/receipts', (c) => {
    const u = find(c);
    return u === undefined ? notFound(c) : c.json({ receipts: sim.receipts(u.jid) });
  });
}

type Defined<T> = { [K in keyof T]?: Exclude<T[K], undefined> };

function stripUndefined<T extends object>(o: T): Defined<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Defined<T>;
}
