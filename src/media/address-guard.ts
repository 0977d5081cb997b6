// Keeps media fetches away from private networks (SSRF): a hub user writes the `url` of the media
// it sends (spec 11.1) and a provider may pass on URLs its users chose, so without this guard a
// message could make Causeway GET its own Redis, admin endpoints or a cloud metadata service.
// Checked on IP literals before connecting and on every address a host name resolves to (the
// `lookup` hook of node:http), so DNS cannot smuggle a private address past the check.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { MediaError } from './errors.ts';

const blocked = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, bits, 'ipv4');
// With the IPv6 forms that embed or translate an IPv4 address (IPv4-compatible ::/96, SIIT
// ::ffff:0:0:0/96, NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4 2002::/16) and the deprecated or
// reserved ranges (site-local fec0::/10, discard 100::/64, documentation 2001:db8::/32).
for (const [net, bits] of [
  ['::', 96], ['::ffff:0:0:0', 96], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001:db8::', 32], ['2002::', 16],
  ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
] as const) {
  blocked.addSubnet(net, bits, 'ipv6');
}

/** Loopback, private, link-local, CGNAT, multicast, reserved; IPv4-mapped IPv6 is judged as IPv4. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family !== 6) return true;
  // BlockList judges an IPv4-mapped address by the IPv4 rules and accepts a zone (`fe80::1%eth0`,
  // from getaddrinfo); a throw here would escape the DNS callback of publicOnlyLookup.
  try {
    return blocked.check(address, 'ipv6');
  } catch {
    return true;
  }
}

/** Refuses a URL whose host is a private IP literal. */
export function assertPublicHost(hostname: string): void {
  const bare = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (isIP(bare) !== 0 && isPrivateAddress(bare)) throw refused(hostname);
  if (bare === 'localhost' || bare.endsWith('.localhost')) throw refused(hostname);
}

/** A `lookup` for node:http that fails when any resolved address is private. */
export const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) return callback(err, '', 0);
    if (addresses.length === 0 || addresses.some((a) => isPrivateAddress(a.address))) return callback(refused(hostname), '', 0);
    if (options.all === true) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
    const first = addresses[0] as LookupAddress;
    callback(null, first.address, first.family);
  });
};

function refused(host: string): MediaError {
  return new MediaError('fetch-failed', `refused to fetch from ${host}: a private or local address`);
}
