// An in-process Matrix homeserver on node:http for the Matrix adapter's tests: enough of the
// client-server API for matrix-js-sdk with Rust crypto (design.md lists what it calls) and for the
// bridge (appservice token with user_id and MSC3202 device masquerading, MSC4190 devices), plus
// the appservice pusher (hs-appservice.ts) and a media repository (hs-media.ts). State is in
// memory; unknown routes answer 404 M_UNRECOGNIZED and are recorded in `unknown` so that a test can
// show what was missing.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppservicePusher, type AppserviceRegistration } from './hs-appservice.ts';
import { MatrixError, readBody, Router, send, type Caller, type Ctx } from './hs-http.ts';
import { keyRoutes } from './hs-keys.ts';
import { mediaRoutes, type MediaRepo } from './hs-media.ts';
import { roomRoutes } from './hs-rooms.ts';
import { HsState, type Json } from './hs-state.ts';
import { syncRoutes } from './hs-sync.ts';

export interface TestHomeserver {
  url: string;
  state: HsState;
  appservice: AppservicePusher;
  /** The media repository's switches and download log (files: `state.media`). */
  media: MediaRepo;
  unknown: string[];
  /** Creates a user with one device; returns what a client needs to log in. */
  registerUser(localpart: string, displayName?: string): { userId: string; deviceId: string; accessToken: string };
  close(): Promise<void>;
}

export async function startHomeserver(o: { serverName: string; registration: AppserviceRegistration }): Promise<TestHomeserver> {
  const s = new HsState(o.serverName);
  const pusher = new AppservicePusher(s, o.registration);
  const router = new Router();
  const unknown: string[] = [];
  const C = '/_matrix/client/v3';

  router.on('GET', '/_matrix/client/versions', () => ({ versions: ['v1.1', 'v1.2', 'v1.3', 'v1.4', 'v1.5', 'v1.6', 'v1.7', 'v1.8', 'v1.9', 'v1.10', 'v1.11', 'v1.12'], unstable_features: {} }));
  router.on('GET', `${C}/capabilities`, () => ({ capabilities: {} }));
  router.on('GET', `${C}/pushrules/`, () => ({ global: { override: [], content: [], room: [], sender: [], underride: [] } }));
  router.on('POST', `${C}/user/{user}/filter`, (c) => {
    const u = s.user(c.caller().userId);
    u.filters.push(c.body);
    return { filter_id: String(u.filters.length - 1) };
  });
  router.on('GET', `${C}/user/{user}/filter/{id}`, (c) => s.user(c.caller().userId).filters[Number(c.params[1])] ?? {});
  router.on('GET', `${C}/account/whoami`, (c) => ({ user_id: c.caller().userId, device_id: c.caller().deviceId }));
  router.on('GET', `${C}/voip/turnServer`, () => ({}));
  router.on('GET', `${C}/thirdparty/protocols`, () => ({}));
  router.on('PUT', `${C}/presence/{user}/status`, () => ({}));
  router.on('GET', `${C}/devices`, (c) => ({ devices: [...s.user(c.caller().userId).devices.values()].map((d) => ({ device_id: d.deviceId, display_name: d.displayName })) }));

  // Appservice user registration and MSC4190 device management.
  router.on('POST', `${C}/register`, (c) => {
    const caller = c.caller();
    if (!caller.appservice) throw new MatrixError(403, 'M_FORBIDDEN', 'registration is closed');
    const userId = `@${String(c.body.username)}:${o.serverName}`;
    if (!pusher.inNamespace(userId)) throw new MatrixError(400, 'M_EXCLUSIVE', 'outside the namespace');
    if (s.users.has(userId)) throw new MatrixError(400, 'M_USER_IN_USE', 'exists');
    s.user(userId);
    return { user_id: userId };
  });
  router.on('PUT', `${C}/devices/{device}`, (c) => {
    const caller = c.caller();
    const d = s.device(caller.userId, c.params[0] as string);
    if (typeof c.body.display_name === 'string') d.displayName = c.body.display_name;
    return {};
  });

  keyRoutes(router, s);
  roomRoutes(router, s, {
    unknownUser: async (userId) => {
      if (!pusher.inNamespace(userId)) return false;
      if (!(await pusher.userQuery(userId))) return false;
      s.user(userId);
      return true;
    },
  });
  syncRoutes(router, s);
  const media = mediaRoutes(router, s);

  const callerOf = (auth: string | undefined, query: URLSearchParams): Caller => {
    const token = auth?.replace(/^Bearer /, '') ?? query.get('access_token') ?? '';
    if (token === o.registration.as_token) {
      const userId = query.get('user_id') ?? `@${o.registration.sender_localpart}:${o.serverName}`;
      if (!pusher.inNamespace(userId)) throw new MatrixError(403, 'M_EXCLUSIVE', `${userId} is outside the namespace`);
      s.user(userId);
      const deviceId = query.get('org.matrix.msc3202.device_id') ?? undefined;
      if (deviceId !== undefined && !s.users.get(userId)?.devices.has(deviceId)) throw new MatrixError(400, 'M_UNKNOWN_DEVICE', `no device ${deviceId}`);
      return { userId, deviceId, appservice: true };
    }
    const t = s.tokens.get(token);
    if (!t) throw new MatrixError(401, 'M_UNKNOWN_TOKEN', 'unknown token');
    return { ...t, appservice: false };
  };

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://hs');
      const method = req.method ?? 'GET';
      const m = router.match(method, url.pathname);
      if (method === 'OPTIONS') return send(res, 204, {});
      if (!m) {
        unknown.push(`${method} ${url.pathname}`);
        return send(res, 404, { errcode: 'M_UNRECOGNIZED', error: 'unrecognized request' });
      }
      const raw = await readBody(req);
      let body: Json = {};
      const type = String(req.headers['content-type'] ?? '');
      if (raw.length > 0 && type.includes('json')) body = JSON.parse(raw.toString('utf8')) as Json;
      const ctx: Ctx = {
        method, path: url.pathname, params: m.params, query: url.searchParams, body, raw, headers: req.headers,
        caller: () => callerOf(req.headers.authorization, url.searchParams),
      };
      try {
        send(res, 200, await m.h(ctx));
      } catch (err) {
        if (err instanceof MatrixError) return send(res, err.status, { errcode: err.errcode, error: err.message });
        send(res, 500, { errcode: 'M_UNKNOWN', error: (err as Error).message });
      }
    })();
  });
  // Idle keep-alive sockets are closed by the clients (fetch: after 4 s), never first by this
  // server: a server-side close racing a client's reuse of the socket is an ECONNRESET for the
  // client (seen in the bench after a long synchronous stretch kept both timers from firing).
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  pusher.start();

  let n = 0;
  return {
    url, state: s, appservice: pusher, media, unknown,
    registerUser(localpart, displayName) {
      const userId = `@${localpart}:${o.serverName}`;
      const deviceId = `DEV${++n}${localpart.toUpperCase()}`;
      const accessToken = s.newToken(userId, deviceId);
      if (displayName) s.user(userId).displayName = displayName;
      return { userId, deviceId, accessToken };
    },
    async close() {
      pusher.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
