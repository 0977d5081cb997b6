// Outbound conversions to text (location, poll, edit, delete, reaction, call), option overrides
// from YAML, feature validation errors and the 65,536-code-point cap (spec 11).
import { describe, expect, it } from 'vitest';
import { downgradeOutbound, type Decision } from '../../src/policy/index.ts';
import { codePoints } from '../../src/policy/text.ts';
import { CTX, DEFAULT_RULES, outbound, PEER, rulesFromYaml, rulesWith, SELF, withFeature } from './helpers.ts';

function sent(d: Decision) {
  if (d.kind !== 'send') throw new Error(`expected send, got ${JSON.stringify(d)}`);
  return d;
}

describe('location', () => {
  it('a live location without a name, with the message’s own text first and a notice', () => {
    const d = sent(downgradeOutbound(withFeature('location', { latitude: -33.8567844, longitude: 151.2152967, live: true }, { text: 'here!' }), DEFAULT_RULES, CTX));
    expect(d.message.text).toBe(
      'here!\n\n📍 Live location\n-33.856784, 151.215297\nhttps://www.openstreetmap.org/?mlat=-33.856784&mlon=151.215297#map=16/-33.856784/151.215297\n(Live location: this is where it was when shared; updates are not sent.)',
    );
    expect(d.fallbacks).toEqual([{ for: 'location', text: 'Live location' }]);
    expect(d.notice).toBe('Live location does not work across networks: the recipient got the current position only, without updates.');
  });

  it('map_url and zoom from the YAML; -0 and long decimals are written plainly', () => {
    const rules = rulesFromYaml('policy:\n  downgrade:\n    location:\n      outbound:\n        options: { map_url: "https://maps.example/?q={lat},{lon}&z={zoom}", zoom: 12 }\n');
    const d = sent(downgradeOutbound(withFeature('location', { latitude: -0, longitude: 2.0000004 }), rules, CTX));
    expect(d.message.text).toBe('📍 Location\n0, 2\nhttps://maps.example/?q=0,2&z=12');
  });
});

describe('poll', () => {
  it('several answers allowed: the other footer; names are put on one line', () => {
    const d = sent(downgradeOutbound(withFeature('poll', { question: 'Which\ndays?', options: ['Mon', 'Tue', 'Wed'], multiple: true }), DEFAULT_RULES, CTX));
    expect(d.message.text).toBe('📊 Which days?\n1. Mon\n2. Tue\n3. Wed\n(Reply with one or more numbers.)');
    expect(d.fallbacks).toEqual([{ for: 'poll', text: 'Poll (several answers allowed): Which days?' }]);
  });

  it('footer from the YAML', () => {
    const rules = rulesFromYaml('policy:\n  downgrade:\n    poll: { outbound: { options: { footer: "(Antworte mit der Nummer.)" } } }\n');
    expect(sent(downgradeOutbound(withFeature('poll', { question: 'Essen?', options: ['Ja', 'Nein'] }), rules, CTX)).message.text).toBe('📊 Essen?\n1. Ja\n2. Nein\n(Antworte mit der Nummer.)');
  });
});

describe('edit, delete, reaction, call', () => {
  it('edit: prefix from the YAML; the reply names the sender’s own message; any earlier replyTo is replaced', () => {
    const rules = rulesFromYaml('policy:\n  downgrade:\n    edit: { outbound: { options: { prefix: "[edit] " } } }\n');
    const d = sent(downgradeOutbound(withFeature('edit', { target_id: 'CWMSG00001', text: 'fixed' }, { replyTo: { id: 'OTHERMSG01', sender: PEER } }), rules, CTX));
    expect(d.message).toEqual(outbound({ text: '[edit] fixed', replyTo: { id: 'CWMSG00001', sender: SELF } }));
  });

  it('delete with notice: false sends nothing, and the sender is told', () => {
    const rules = rulesFromYaml('policy:\n  downgrade:\n    delete: { outbound: { options: { notice: false } } }\n');
    expect(downgradeOutbound(withFeature('delete', { target_id: 'CWMSG00001' }), rules, CTX)).toEqual({
      kind: 'drop',
      reason: 'dropped-by-policy',
      feature: 'delete',
      message: 'Deletions do not reach contacts on other networks: the message stays visible to the recipient. Nothing was sent.',
    });
  });

  it('delete for the sender only sends nothing whatever the rule', () => {
    expect(downgradeOutbound(withFeature('delete', { target_id: 'CWMSG00001', for_everyone: false }), DEFAULT_RULES, CTX)).toEqual({
      kind: 'drop',
      reason: 'local-only',
      feature: 'delete',
      message: 'Deleted for you only: nothing was sent to the recipient.',
    });
  });

  it('delete text from the YAML', () => {
    const rules = rulesFromYaml('policy:\n  downgrade:\n    delete: { outbound: { options: { text: "{sender} hat eine Nachricht gelöscht" } } }\n');
    expect(sent(downgradeOutbound(withFeature('delete', { target_id: 'CWMSG00001' }), rules, CTX)).message.text).toBe('alice hat eine Nachricht gelöscht');
  });

  it('reaction without a quoted text, to the sender’s own message', () => {
    const d = sent(downgradeOutbound(withFeature('reaction', { target_id: 'CWMSG00001', emoji: '❤️', target_sender: 'self' }), DEFAULT_RULES, CTX));
    expect(d.message).toEqual(outbound({ text: 'reacted ❤️', replyTo: { id: 'CWMSG00001', sender: SELF } }));
  });

  it('reaction templates and excerpt length from the YAML; the excerpt counts graphemes', () => {
    const rules = rulesFromYaml('policy:\n  downgrade:\n    reaction:\n      outbound:\n        options: { text: "{emoji} on \'{excerpt}\'", excerpt_length: 3 }\n');
    const d = sent(downgradeOutbound(withFeature('reaction', { target_id: 'HUBMSG0001', emoji: '👍🏽', target_text: '👨‍👩‍👧‍👦 family\nphoto' }), rules, CTX));
    expect(d.message.text).toBe("👍🏽 on '👨‍👩‍👧‍👦 f…'");
    expect(d.message.replyTo).toEqual({ id: 'HUBMSG0001', sender: PEER });
  });

  it('a voice call under convert, with the YAML text', () => {
    const rules = rulesFromYaml('policy:\n  downgrade:\n    call: { outbound: { action: convert, options: { text: "☎️ {sender} called" } } }\n');
    const d = sent(downgradeOutbound(withFeature('call', {}), rules, CTX));
    expect(d).toEqual({ kind: 'send', message: outbound({ text: '☎️ alice called' }), fallbacks: [{ for: 'call', text: 'Call' }], downgraded: [{ feature: 'call', to: 'text' }] });
  });
});

describe('feature payloads that cannot be read', () => {
  it('an unknown feature name', () => {
    expect(downgradeOutbound(withFeature('gif', {}), DEFAULT_RULES, CTX)).toMatchObject({
      kind: 'reject',
      reason: 'unknown-feature',
      feature: 'gif',
      issues: [{ path: 'feature.name', message: expect.stringContaining('sticker, status') }],
    });
  });

  it('a bad payload is refused with its field path, whatever the rule', () => {
    for (const action of ['convert', 'reject', 'drop'] as const) {
      const d = downgradeOutbound(withFeature('location', { latitude: 91, longitude: 'east' }), rulesWith('location', action), CTX);
      expect(d).toMatchObject({ kind: 'reject', reason: 'invalid-feature', feature: 'location' });
      if (d.kind !== 'reject') throw new Error('unreachable');
      expect(d.issues?.map((i) => i.path)).toEqual(['feature.data.latitude', 'feature.data.longitude']);
      expect(d.message).toMatch(/^The message could not be read \(feature\.data\.latitude: /);
    }
  });
});

describe('the spec 11 text limit', () => {
  it('an edit of 65,536 astral characters is cut to 65,536 code points, ending with an ellipsis', () => {
    const d = sent(downgradeOutbound(withFeature('edit', { target_id: 'CWMSG00001', text: '😀'.repeat(65_536) }), DEFAULT_RULES, CTX));
    const text = d.message.text ?? '';
    expect(codePoints(text)).toBe(65_536);
    expect(text.startsWith('✏️ Edited: 😀')).toBe(true);
    expect(text.endsWith('😀…')).toBe(true);
  });

  it('a text that fits exactly is not cut', () => {
    const prefix = '✏️ Edited: ';
    const body = 'a'.repeat(65_536 - codePoints(prefix));
    const d = sent(downgradeOutbound(withFeature('edit', { target_id: 'CWMSG00001', text: body }), DEFAULT_RULES, CTX));
    expect(d.message.text).toBe(prefix + body);
  });
});
