// The SSRF guard on addresses a name resolves to: a scoped IPv6 address (`fe80::1%eth0`, as
// getaddrinfo reports link-local entries of /etc/hosts) must be judged, not throw: the check runs
// inside the DNS callback of publicOnlyLookup, where a throw is an uncaught exception. And the
// IPv6 forms that carry an IPv4 address are judged private.
import { describe, expect, it } from 'vitest';
import { isPrivateAddress } from '../../src/media/address-guard.ts';

describe('isPrivateAddress', () => {
  it('judges scoped IPv6 addresses instead of throwing', () => {
    expect(isPrivateAddress('fe80::1%eth0')).toBe(true);
    expect(isPrivateAddress('fe80::1%2')).toBe(true);
    expect(isPrivateAddress('ff02::1%lo')).toBe(true);
  });

  it('still tells public from private addresses', () => {
    expect(isPrivateAddress('2001:4860:4860::8888')).toBe(false);
    expect(isPrivateAddress('8.8.8.8')).toBe(false);
    expect(isPrivateAddress('::ffff:10.0.0.1')).toBe(true);
    expect(isPrivateAddress('fd00:ec2::254')).toBe(true);
  });

  it('refuses the IPv6 forms that embed an IPv4 address, and the reserved ranges', () => {
    for (const a of ['::127.0.0.1', '::a00:1', '::ffff:0:7f00:1', '64:ff9b:1::a00:1', '2002:7f00:1::1', 'fec0::1', '100::1', '2001:db8::1']) {
      expect(isPrivateAddress(a), a).toBe(true);
    }
    expect(isPrivateAddress('2a00:1450:4009:81f::200e')).toBe(false);
  });
});
