// Values that must be refused with a message that says what is wrong: a Redis URL with no host
// (ioredis would quietly connect to localhost instead), and YAML's .inf / .nan where a number is
// expected (zod calls them invalid numbers, which read "expected number, got number").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCausewayConfig } from '../../src/config/causeway.ts';
import { configErrorOf, MINIMAL, registry, setEnv, testEnv } from './support.ts';

let restore: () => void;
beforeAll(() => {
  restore = setEnv(testEnv());
});
afterAll(() => restore());

const issuesOf = (extra: string) => configErrorOf(() => parseCausewayConfig(`${MINIMAL}${extra}`, 'c.yaml', registry)).issues;

describe('URLs', () => {
  it.each(['redis://', 'redis:6379', 'redis:/redis-host:6379', 'rediss://:pw@/0'])('redis.url %j (no host) is refused', (url) => {
    const issues = issuesOf(`redis: { url: "${url}" }\n`);
    expect(issues.map((i) => [i.path, i.message])).toEqual([['redis.url', 'expected a redis:// or rediss:// URL such as redis://127.0.0.1:6379']]);
  });

  it('a redis URL with a host is accepted', () => {
    const c = parseCausewayConfig(`${MINIMAL}redis: { url: "rediss://:pw@redis.internal:6380/2" }\n`, 'c.yaml', registry);
    expect(c.redis.url).toBe('rediss://:pw@redis.internal:6380/2');
  });
});

describe('non-finite numbers', () => {
  it.each([
    ['.inf', 'infinity'],
    ['-.inf', 'infinity'],
    ['.nan', 'NaN'],
  ])('%s is reported as such', (value, word) => {
    const issues = issuesOf(`server: { port: ${value} }\nlimits: { max_message_bytes: ${value} }\n`);
    expect(issues.map((i) => [i.path, i.message])).toEqual([
      ['server.port', `expected a finite number, got ${word}`],
      ['limits.max_message_bytes', `expected a finite number, got ${word}`],
    ]);
  });
});
