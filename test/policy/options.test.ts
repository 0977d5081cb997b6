// Converter options in the YAML (src/config/policy-schema.ts): defaults when absent, overrides
// per direction, and clear errors (with the file's path and line) for bad options.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseCausewayConfig } from '../../src/config/causeway.ts';
import { DEFAULT_MAP_URL, policySchema } from '../../src/config/policy-schema.ts';
import { DEFAULT_OPTIONS, optionsFor } from '../../src/policy/index.ts';
import { configErrorOf, MINIMAL, registry, setEnv, testEnv } from '../config/support.ts';
import { rulesFromYaml } from './helpers.ts';

let restore: () => void;
beforeAll(() => {
  restore = setEnv(testEnv());
});
afterAll(() => restore());

describe('converter options', () => {
  it('are absent from the parsed config unless given; the engine then reads the schema defaults', () => {
    const rules = rulesFromYaml('policy: {}\n');
    expect(rules.downgrade.location.outbound).toEqual({ action: 'convert' });
    expect(optionsFor(rules, 'location', 'outbound')).toEqual({ map_url: DEFAULT_MAP_URL, zoom: 16 });
    expect(DEFAULT_OPTIONS.delete).toEqual({ notice: true, text: '🗑️ {sender} deleted a message' });
    expect(DEFAULT_OPTIONS.sticker).toEqual({ animated_to: 'video' });
  });

  it('given options fill their other fields with defaults, per direction', () => {
    const rules = rulesFromYaml('policy:\n  downgrade:\n    reaction: { inbound: { options: { excerpt_length: 10 } } }\n');
    expect(optionsFor(rules, 'reaction', 'inbound')).toEqual({ text: 'reacted {emoji} to “{excerpt}”', text_no_excerpt: 'reacted {emoji}', excerpt_length: 10 });
    expect(optionsFor(rules, 'reaction', 'outbound')).toBe(DEFAULT_OPTIONS.reaction);
  });

  it.each([
    ['location: { outbound: { options: { map_url: "https://m.example/{lat}" } } }', 'downgrade.location.outbound.options.map_url', 'must contain {lat} and {lon}'],
    ['location: { outbound: { options: { map_url: "geo:{lat},{lon}" } } }', 'downgrade.location.outbound.options.map_url', 'must be an http(s) URL template'],
    ['location: { outbound: { options: { zoom: 25 } } }', 'downgrade.location.outbound.options.zoom', ''],
    ['delete: { outbound: { options: { text: "{who} deleted" } } }', 'downgrade.delete.outbound.options.text', 'may use only the placeholders {sender}'],
    ['edit: { outbound: { options: { prefix: "{x}" } } }', 'downgrade.edit.outbound.options.prefix', 'may not use placeholders'],
    ['sticker: { outbound: { options: { animated_to: gif } } }', 'downgrade.sticker.outbound.options.animated_to', ''],
    ['contact: { inbound: { options: { vcard_version: "2.1" } } }', 'downgrade.contact.inbound.options.vcard_version', ''],
    ['poll: { outbound: { options: { header: "x" } } }', 'downgrade.poll.outbound.options', ''],
  ])('refuses %s at %s', (snippet, path, message) => {
    const r = policySchema.safeParse(parseYaml(`downgrade:\n  ${snippet}\n`));
    expect(r.success).toBe(false);
    const issue = r.error?.issues[0];
    expect(issue?.path.join('.')).toBe(path);
    expect(issue?.message).toContain(message);
  });

  it('a bad option in causeway.yaml is reported with its path and line', () => {
    const err = configErrorOf(() =>
      parseCausewayConfig(`${MINIMAL}policy:\n  downgrade:\n    delete:\n      outbound:\n        options: { notice: maybe }\n`, 'causeway.yaml', registry),
    );
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]).toMatchObject({ path: 'policy.downgrade.delete.outbound.options.notice', line: 13 });
  });
});
