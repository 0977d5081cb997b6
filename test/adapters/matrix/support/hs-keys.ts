// Test homeserver: end-to-end encryption endpoints (C-S API "Key management API" and "Send-to-
// Device messaging"): device keys, one-time and fallback keys, queries, claims, to-device queues.
import type { Router } from './hs-http.ts';
import { MatrixError } from './hs-http.ts';
import type { HsState, Json } from './hs-state.ts';

export function keyRoutes(r: Router, s: HsState): void {
  r.on('POST', '/_matrix/client/v3/keys/upload', (c) => {
    const { userId, deviceId } = c.caller();
    if (deviceId === undefined) throw new MatrixError(400, 'M_MISSING_PARAM', 'no device');
    const d = s.device(userId, deviceId);
    const b = c.body as { device_keys?: Json; one_time_keys?: Record<string, Json>; fallback_keys?: Record<string, Json> };
    if (b.device_keys) {
      d.keys = b.device_keys;
      s.keyChanges.push({ pos: s.bump(), userId });
    }
    for (const [id, k] of Object.entries(b.one_time_keys ?? {})) d.otks.set(id, k);
    if (b.fallback_keys && Object.keys(b.fallback_keys).length > 0) {
      d.fallback = new Map(Object.entries(b.fallback_keys));
      d.fallbackUsed = false;
    }
    if (b.one_time_keys || b.fallback_keys) d.countsPos = s.bump();
    return { one_time_key_counts: s.otkCounts(d) };
  });

  r.on('POST', '/_matrix/client/v3/keys/query', (c) => {
    const want = (c.body.device_keys ?? {}) as Record<string, string[]>;
    const out: Record<string, Record<string, Json>> = {};
    for (const [userId, devices] of Object.entries(want)) {
      const u = s.users.get(userId);
      out[userId] = {};
      for (const d of u?.devices.values() ?? []) {
        if (!d.keys || (devices.length > 0 && !devices.includes(d.deviceId))) continue;
        (out[userId] as Record<string, Json>)[d.deviceId] = { ...d.keys, unsigned: { device_display_name: d.displayName ?? d.deviceId } };
      }
    }
    return { device_keys: out, failures: {}, master_keys: {}, self_signing_keys: {}, user_signing_keys: {} };
  });

  r.on('POST', '/_matrix/client/v3/keys/claim', (c) => {
    const want = (c.body.one_time_keys ?? {}) as Record<string, Record<string, string>>;
    const out: Record<string, Record<string, Json>> = {};
    for (const [userId, devices] of Object.entries(want)) {
      for (const [deviceId, alg] of Object.entries(devices)) {
        const d = s.users.get(userId)?.devices.get(deviceId);
        if (!d) continue;
        let found = [...d.otks.entries()].find(([id]) => id.startsWith(`${alg}:`));
        if (found) d.otks.delete(found[0]);
        else {
          found = [...d.fallback.entries()].find(([id]) => id.startsWith(`${alg}:`));
          if (found) d.fallbackUsed = true;
        }
        if (!found) continue;
        d.countsPos = s.bump();
        ((out[userId] ??= {})[deviceId] ??= {})[found[0]] = found[1];
      }
    }
    return { one_time_keys: out, failures: {} };
  });

  r.on('POST', '/_matrix/client/v3/keys/signatures/upload', () => ({ failures: {} }));
  r.on('POST', '/_matrix/client/v3/keys/device_signing/upload', () => ({}));
  r.on('GET', '/_matrix/client/v3/room_keys/version', () => {
    throw new MatrixError(404, 'M_NOT_FOUND', 'no backup');
  });

  r.on('PUT', '/_matrix/client/v3/sendToDevice/{type}/{txn}', (c) => {
    const { userId, deviceId } = c.caller();
    const [type, txn] = c.params as [string, string];
    const key = `todevice|${userId}|${deviceId ?? ''}|${txn}`;
    if (s.txns.has(key)) return {};
    s.txns.set(key, '');
    const messages = (c.body.messages ?? {}) as Record<string, Record<string, Json>>;
    for (const [to, devices] of Object.entries(messages)) {
      const u = s.users.get(to);
      if (!u) continue;
      for (const [dev, content] of Object.entries(devices)) {
        const targets = dev === '*' ? [...u.devices.values()] : [u.devices.get(dev)].filter((d) => d !== undefined);
        for (const d of targets) d.toDevice.push({ pos: s.bump(), event: { type, sender: userId, content } });
      }
    }
    return {};
  });
}
