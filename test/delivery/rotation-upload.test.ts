// The signed prekey rotation marker (`rotated-at`) records a rotation the hub accepted (spec 7.1,
// issue 3: rotate on a schedule). Set before the upload, a refused or lost upload would leave the
// hub with the old signed prekeys while the schedule counts them as new: no retry for a whole
// period. The hub here is a fake session whose uploads fail until told otherwise.
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createAccount } from '../../src/crypto/account.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { Accounts } from '../../src/delivery/accounts.ts';
import { HubIqError, type HubConnection } from '../../src/hub/connection.ts';
import type { SessionManager } from '../../src/hub/sessions.ts';
import type { IqQuery } from '../../src/protocol/index.ts';
import { testRedis } from '../support/redis.ts';

const { redis, prefix, cleanup } = testRedis();
const keyring = new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1');
const DAY_S = 24 * 3600;
let refuse = true;
const uploads: IqQuery[] = [];

function fakeConn(user: string): HubConnection {
  return {
    user,
    open: true,
    iq: async (q: IqQuery) => {
      if (q.xmlns === 'encrypt' && q.op === 'upload') {
        uploads.push(q);
        if (refuse) throw new HubIqError(503, 'unavailable');
        return { op: 'empty' };
      }
      if (q.xmlns === 'encrypt' && q.op === 'count') return { op: 'count', value: 100, kyber: 100 };
      return { op: 'empty' };
    },
  } as unknown as HubConnection;
}

const sessions = { get: async (user: string) => fakeConn(user), openConnections: () => [], stopped: false } as unknown as SessionManager;
const accounts = new Accounts({ redis, keyring, prefix, sessions, preKeys: 5, lowWater: 2, rotateSignedMs: 7 * DAY_S * 1000, logger: pino({ level: 'silent' }) });

afterAll(async () => {
  (accounts as { close?: () => void }).close?.();
  await cleanup();
});

beforeEach(() => {
  refuse = true;
  uploads.length = 0;
});

/** An opted-in user whose signed prekeys were last rotated `ageS` ago. */
async function optedIn(user: string, ageS: number): Promise<number> {
  const store = accounts.store(user);
  await createAccount(store, { preKeys: 2, kyberPreKeys: 2 });
  const at = Math.floor(Date.now() / 1000) - ageS;
  await store.setMarker('rotated-at', at);
  await redis.hset(`${prefix}:interop`, user, 'enabled');
  return at;
}

describe('rotated-at is set once the hub accepted the rotation', () => {
  it('maintain: a refused upload leaves the rotation due, and it is done on the next try', async () => {
    const user = 'rot1@birdy.interop';
    const old = await optedIn(user, 8 * DAY_S);
    const store = accounts.store(user);
    await accounts.maintain(fakeConn(user));
    expect(uploads).toHaveLength(1);
    expect(await store.getMarker('rotated-at')).toBe(old);

    refuse = false;
    await accounts.maintain(fakeConn(user));
    expect(uploads).toHaveLength(2);
    expect(await store.getMarker('rotated-at')).toBeGreaterThan(old + 7 * DAY_S);
  });

  it('enable of an existing account (re-upload): a refused upload leaves the old marker', async () => {
    const user = 'rot2@birdy.interop';
    const old = await optedIn(user, 8 * DAY_S);
    await expect(accounts.enable(user)).rejects.toBeInstanceOf(HubIqError);
    expect(await accounts.store(user).getMarker('rotated-at')).toBe(old);

    refuse = false;
    await accounts.enable(user);
    expect(await accounts.store(user).getMarker('rotated-at')).toBeGreaterThan(old + 7 * DAY_S);
  });

  it('enable of a new account: a refused first upload sets no marker', async () => {
    const user = 'rot3@birdy.interop';
    await expect(accounts.enable(user)).rejects.toBeInstanceOf(HubIqError);
    expect(await accounts.store(user).getMarker('rotated-at')).toBeUndefined();
  });
});
