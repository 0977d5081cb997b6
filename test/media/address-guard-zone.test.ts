// The SSRF guard on addresses a name resolves to: a scoped IPv6 address (`fe80::1%eth0`, as
// getaddrinfo reports link-local entries of /etc/hosts) must be judged, not throw: the check runs
// inside the DNS callback of publicOnlyLookup, where a throw is an uncaught exception.
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
});
