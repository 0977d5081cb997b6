// Secrets and message content never reach the logs: Secret objects print as "[secret from …]",
// and fields named like credentials or content are censored, in JSON and in pretty output.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCausewayConfig } from '../../src/config/causeway.ts';
import { Secret } from '../../src/config/secret.ts';
import { createLogger, REDACTED } from '../../src/logging.ts';
import { SECRET_VALUES, exampleEnv, registry, setEnv } from './support.ts';

function bufferLogger(pretty: boolean) {
  const lines: string[] = [];
  const logger = createLogger({ level: 'trace', pretty, name: 'test', destination: { write: (s: string) => void lines.push(s) } });
  return { logger, output: () => lines.join('') };
}

const env = exampleEnv();
let restore: () => void;
beforeAll(() => {
  restore = setEnv(env);
});
afterAll(() => restore());

describe.each([false, true])('logging (pretty: %s)', (pretty) => {
  it('does not log a Secret or a token field, but keeps the rest', () => {
    const { logger, output } = bufferLogger(pretty);
    logger.info({ user: 'alice@birdy.interop', secret: new Secret('s-VALUE-1', 'test'), token: 'tok-VALUE-2', pending: 3 }, 'opened');
    logger.warn({ conf: { push: new Secret('s-VALUE-3', 'env X') } }, 'nested secret');
    const out = output();
    for (const v of ['s-VALUE-1', 'tok-VALUE-2', 's-VALUE-3']) expect(out).not.toContain(v);
    expect(out).toContain('alice@birdy.interop');
    expect(out).toContain('opened');
    expect(out).toContain(REDACTED);
    expect(out).toContain('[secret from env X]');
  });

  it('censors headers, keys and message content up to three levels deep', () => {
    const { logger, output } = bufferLogger(pretty);
    logger.info({
      req: { headers: { authorization: 'Bearer auth-VALUE-4', 'content-type': 'application/json' } },
      message: { text: 'hello VALUE-5', id: '3EB0C4F1A2' },
      enc: { ciphertext: 'Y2lwaGVy-VALUE-6' },
      plaintext: 'VALUE-7',
      password: 'pw-VALUE-8',
      kek: { key: 'a2V5-VALUE-9' },
    });
    const out = output();
    for (let i = 4; i <= 9; i++) expect(out).not.toContain(`VALUE-${i}`);
    expect(out).toContain('3EB0C4F1A2');
    expect(out).toContain('application/json');
  });

  it('can log a whole loaded config without revealing any secret in it', () => {
    const config = loadCausewayConfig('config/causeway.example.yaml', registry);
    const { logger, output } = bufferLogger(pretty);
    logger.info({ config }, 'configuration');
    const out = output();
    expect(out).toContain('birdy-api');
    for (const v of [...Object.values(SECRET_VALUES), env.CAUSEWAY_KEK_2025, env.CAUSEWAY_KEK_2026]) expect(out).not.toContain(v);
    expect(out).not.toContain('PRIVATE KEY');
  });
});

describe('pretty output', () => {
  it('prints one human line per entry', () => {
    const { logger, output } = bufferLogger(true);
    logger.warn({ n: 1 }, 'careful');
    expect(output()).toMatch(/^\d\d:\d\d:\d\d\.\d{3} WARN {2}test: careful \{"n":1\}\n$/);
  });
});
