// Every feature × every action × both directions, with the exact texts: outbound through
// downgradeOutbound (SAMPLES → CONVERTED/REJECTED/DROPPED in helpers.ts), inbound through
// downgradeInbound on a hub message carrying the feature's `<fallback>` (spec 11).
import { describe, expect, it } from 'vitest';
import { UNSUPPORTED_FEATURES } from '../../src/protocol/index.ts';
import { downgradeInbound, downgradeOutbound } from '../../src/policy/index.ts';
import { CONVERTED, CTX, DROPPED, inbound, PEER, REJECTED, rulesWith, SAMPLES, withFeature } from './helpers.ts';

const CAPS = { media: [], receipts: true, features: [] };

describe.each(UNSUPPORTED_FEATURES)('%s', (feature) => {
  const msg = withFeature(feature, SAMPLES[feature]);

  it('outbound convert: the exact conversion, with its fallback and downgraded entries', () => {
    const d = downgradeOutbound(msg, rulesWith(feature, 'convert'), CTX);
    const want = CONVERTED[feature];
    expect(d).toEqual({ kind: 'send', ...want });
    if (d.kind !== 'send') throw new Error('unreachable');
    expect(d.message.feature).toBeUndefined();
    expect(d.fallbacks.map((f) => f.for)).toEqual([feature]);
    expect(d.downgraded[0]?.feature).toBe(feature);
  });

  it('outbound reject: fails with a sentence for the sender', () => {
    const d = downgradeOutbound(msg, rulesWith(feature, 'reject'), CTX);
    expect(d).toEqual({ kind: 'reject', reason: feature === 'view-once' ? 'view-once' : 'unsupported-in-interop', feature, message: REJECTED[feature] });
  });

  it('outbound drop: nothing is sent and the sender is told', () => {
    const d = downgradeOutbound(msg, rulesWith(feature, 'drop'), CTX);
    expect(d).toEqual({ kind: 'drop', reason: 'dropped-by-policy', feature, message: DROPPED[feature] });
  });

  const fromHub = inbound({ text: 'something the hub user’s app wrote', fallbacks: [{ feature, text: `a ${feature}` }] });

  it('inbound convert: the fallback is delivered as it is', () => {
    expect(downgradeInbound(fromHub, CAPS, rulesWith(feature, 'convert'))).toEqual({ kind: 'deliver', message: fromHub, downgraded: [] });
  });

  it('inbound reject: not delivered; a notice for the provider user', () => {
    const d = downgradeInbound(fromHub, CAPS, rulesWith(feature, 'reject'));
    expect(d).toMatchObject({ kind: 'reject', reason: feature === 'view-once' ? 'view-once' : 'unsupported-in-interop', feature, peer: PEER, messageId: 'HUBMSG0001' });
    if (d.kind !== 'reject') throw new Error('unreachable');
    expect(d.notice).toMatch(/^A contact on another network sent you /);
  });

  it('inbound drop: skipped', () => {
    expect(downgradeInbound(fromHub, CAPS, rulesWith(feature, 'drop'))).toEqual({ kind: 'drop', reason: 'dropped-by-policy', feature });
  });

  it('inbound: a provider that shows the feature itself gets it whatever the rule', () => {
    const d = downgradeInbound(fromHub, { ...CAPS, features: [feature] }, rulesWith(feature, 'reject'));
    expect(d).toEqual({ kind: 'deliver', message: fromHub, downgraded: [] });
  });
});
