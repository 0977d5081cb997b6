import { describe, expect, it } from 'vitest';
import { Directory } from '../../src/mock-hub/directory.ts';

function dir(): Directory {
  const d = new Directory();
  d.addProvider({ id: 'birdy', name: 'Birdy' });
  d.addProvider({ id: 'haiket', name: 'Haiket' });
  return d;
}

const script = { echo: false, receipts: true, read: false, delay_ms: 0 };

describe('directory', () => {
  it('computes the dhash of spec 4 and orders devices', () => {
    const d = dir();
    const u = d.addHubUser({ digits: '447700900123', name: undefined, devices: [3, 0], thirdParty: { enabled: true, providers: ['*'] }, script });
    expect(u.jid).toBe('447700900123@hub');
    expect(u.devices).toEqual([0, 3]);
    expect(d.dhash(u)).toBe('2:pYHTvpwl');
    expect(d.deviceList(u)).toEqual({ jid: '447700900123@hub', dhash: '2:pYHTvpwl', devices: [0, 3] });
    expect(d.nextDevice(u)).toBe(1);
    d.addDevice(u, 1);
    expect(d.nextDevice(u)).toBe(2);
    expect(d.dhash(u)).not.toBe('2:pYHTvpwl');
    expect(() => d.addDevice(u, 1)).toThrow();
    d.removeDevice(u, 1);
    expect(d.dhash(u)).toBe('2:pYHTvpwl');
    expect(() => d.addHubUser({ digits: '447700900123', name: undefined, devices: [0], thirdParty: { enabled: true, providers: ['*'] }, script })).toThrow();
  });

  it('answers reachability the same way for unknown, opted-out and other-provider users (spec 10)', () => {
    const d = dir();
    const all = d.addHubUser({ digits: '1555000001', name: undefined, devices: [0], thirdParty: { enabled: true, providers: ['*'] }, script });
    const onlyHaiket = d.addHubUser({ digits: '1555000002', name: undefined, devices: [0], thirdParty: { enabled: true, providers: ['haiket'] }, script });
    const off = d.addHubUser({ digits: '1555000003', name: undefined, devices: [0], thirdParty: { enabled: false, providers: ['*'] }, script });
    expect(d.reachable(all, 'birdy')).toBe(true);
    expect(d.reachable(onlyHaiket, 'birdy')).toBe(false);
    expect(d.reachable(onlyHaiket, 'haiket')).toBe(true);
    expect(d.reachable(off, 'birdy')).toBe(false);
    expect(d.reachable(undefined, 'birdy')).toBe(false);
    expect(d.reachable(all, 'unknown')).toBe(false);
    d.provider('birdy')!.delisted = true;
    expect(d.reachable(all, 'birdy')).toBe(false);
  });

  it('tracks blocks, enlisted provider users and contacts both ways', () => {
    const d = dir();
    const u = d.addHubUser({ digits: '1555000001', name: 'U', devices: [0], thirdParty: { enabled: true, providers: ['*'] }, script });
    u.blockedUsers.add('alice@birdy.interop');
    u.blockedProviders.add('haiket');
    expect(d.isBlocked(u, 'alice@birdy.interop', 'birdy')).toBe(true);
    expect(d.isBlocked(u, 'carol@birdy.interop', 'birdy')).toBe(false);
    expect(d.isBlocked(u, 'dave@haiket.interop', 'haiket')).toBe(true);
    expect(d.blockedList(u)).toEqual(['alice@birdy.interop', 'haiket']);

    const a = d.ensureProviderUser('alice@birdy.interop', 'birdy');
    expect(d.reachableProviderUser(a.jid)).toBeUndefined();
    a.enlisted = true;
    expect(d.reachableProviderUser(a.jid)).toBe(a);
    expect(d.ensureProviderUser('alice@birdy.interop', 'birdy')).toBe(a);

    d.addContact(u.jid, a.jid);
    d.addContact(u.jid, a.jid);
    expect(d.providerContactsOf(u.jid)).toEqual([a.jid]);
    expect(d.hubContactsOf(a.jid)).toEqual([u.jid]);
    d.dropContactsOf(a.jid);
    expect(d.providerContactsOf(u.jid)).toEqual([]);
    expect(d.hubContactsOf(a.jid)).toEqual([]);
  });
});
