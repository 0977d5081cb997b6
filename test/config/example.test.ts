// config/causeway.example.yaml is documentation that cannot drift: it must validate (given the
// environment variables it references, all of which its header lists), and it must mention every
// option the schemas know. config/mock-hub.example.yaml must validate as a bare mock hub config.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { loadCausewayConfig, loadMockHubConfig } from '../../src/config/causeway.ts';
import { configSchema } from '../../src/config/schema.ts';
import { exampleEnv, registry, setEnv } from './support.ts';

const EXAMPLE = 'config/causeway.example.yaml';
const MOCK_HUB_EXAMPLE = 'config/mock-hub.example.yaml';
const text = readFileSync(EXAMPLE, 'utf8');

let restore: () => void;
beforeAll(() => {
  restore = setEnv(exampleEnv());
});
afterAll(() => restore());

/** Every object key a zod schema knows, at any depth. */
function keysOf(schema: z.ZodType, out = new Set<string>()): Set<string> {
  const def = (schema as unknown as { def: Record<string, unknown> }).def;
  const visit = (s: unknown): void => {
    if (s !== undefined) keysOf(s as z.ZodType, out);
  };
  switch (def.type) {
    case 'object':
      for (const [k, v] of Object.entries(def.shape as Record<string, z.ZodType>)) {
        out.add(k);
        visit(v);
      }
      break;
    case 'pipe':
      visit(def.in);
      break;
    case 'array':
      visit(def.element);
      break;
    case 'union':
      (def.options as z.ZodType[]).forEach(visit);
      break;
    default:
      visit(def.innerType);
  }
  return out;
}

describe('config/causeway.example.yaml', () => {
  it('validates with the adapters registry', () => {
    const c = loadCausewayConfig(EXAMPLE, registry);
    expect(c.hub.provider_id).toBe('birdy');
    expect(c.store.key_encryption_keys.map((k) => k.id)).toEqual(['kek-2025', 'kek-2026']);
    expect(c.adapters.map((a) => a.type)).toEqual(['webhook']);
    expect(c.mock_hub?.providers[0]?.id).toBe('birdy');
    expect(c.mock_hub?.users).toHaveLength(2);
  });

  it('lists in its header exactly the environment variables it references, and the tests set them all', () => {
    const referenced = new Set([...text.matchAll(/\{ env: (\w+) \}/g)].map((m) => m[1]));
    const header = text.slice(0, text.indexOf('\nserver:'));
    for (const name of referenced) expect(header).toContain(name);
    const active = new Set(
      text
        .split('\n')
        .filter((l) => !l.trimStart().startsWith('#'))
        .flatMap((l) => [...l.matchAll(/\{ env: (\w+) \}/g)].map((m) => m[1])),
    );
    expect([...active].sort()).toEqual(Object.keys(exampleEnv()).sort());
  });

  it('mentions every option of the sidecar, mock hub and webhook adapter schemas', () => {
    const keys = keysOf(configSchema);
    const webhook = registry.webhook;
    if (webhook === undefined) throw new Error('the webhook adapter schema was not discovered');
    keysOf(webhook, keys);
    const missing = [...keys].filter((k) => !new RegExp(`(^|[\\s{,#])${k.replace(/[-]/g, '\\-')}:`, 'm').test(text));
    expect(missing).toEqual([]);
    expect(keys.size).toBeGreaterThan(80);
  });

  it('gives its mock_hub section to `causeway mock-hub --config`', () => {
    const m = loadMockHubConfig(EXAMPLE);
    expect(m.listen).toEqual({ host: '127.0.0.1', port: 7300 });
    expect(m.providers[0]?.push_secret?.reveal()).toBe(process.env.CAUSEWAY_MOCK_HUB_PUSH_SECRET);
  });
});

describe('config/mock-hub.example.yaml', () => {
  it('validates as a bare mock hub config', () => {
    const m = loadMockHubConfig(MOCK_HUB_EXAMPLE);
    expect(m.users.map((u) => u.phone)).toEqual(['+447700900123', '+447700900456']);
  });
});
