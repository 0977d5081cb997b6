// Shared fixtures of the policy tests: rules parsed from YAML through the real config schema, a
// base outbound message, and one valid payload per feature with its exact default conversion.
import { parse as parseYaml } from 'yaml';
import type { InboundMessage, OutboundMessage } from '../../adapters/contract.ts';
import { policySchema, type PolicyConfig } from '../../src/config/policy-schema.ts';
import type { UnsupportedFeature } from '../../src/protocol/index.ts';
import type { OutboundContext } from '../../src/policy/index.ts';

/** The `policy:` section of a causeway.yaml, parsed through src/config/policy-schema.ts. */
export function rulesFromYaml(yaml: string): PolicyConfig {
  const doc = (parseYaml(yaml) ?? {}) as { policy?: unknown };
  return policySchema.parse(doc.policy);
}

export const DEFAULT_RULES: PolicyConfig = policySchema.parse(undefined);

/** Rules where `feature` has `action` in both directions, everything else at its default. */
export function rulesWith(feature: UnsupportedFeature, action: 'convert' | 'reject' | 'drop'): PolicyConfig {
  return rulesFromYaml(`policy:\n  downgrade:\n    ${feature}: { outbound: { action: ${action} }, inbound: { action: ${action} } }\n`);
}

export const SELF = 'alice@birdy.interop';
export const PEER = '447700900123@hub';
export const CTX: OutboundContext = { self: SELF };

export function outbound(extra: Partial<OutboundMessage> = {}): OutboundMessage {
  return { idempotencyKey: 'key-0001', from: 'alice', to: PEER, ...extra };
}

export function withFeature(name: string, data: Record<string, unknown>, extra: Partial<OutboundMessage> = {}): OutboundMessage {
  return outbound({ ...extra, feature: { name, data } });
}

export function inbound(extra: Partial<InboundMessage> = {}): InboundMessage {
  return { id: 'HUBMSG0001', from: PEER, fromDevice: '447700900123:0@hub', to: 'alice', t: 1_763_800_100, offline: false, ...extra };
}

export const bytes = (n: number, fill = 7): Uint8Array => new Uint8Array(n).fill(fill);

export const STICKER_BYTES = bytes(10);
export const PHOTO_BYTES = bytes(20);
export const LONG_TEXT = 'See you at 8 tonight at the usual place by the river, bring the map and some snacks';

/** One valid payload per feature. */
export const SAMPLES: Record<UnsupportedFeature, Record<string, unknown>> = {
  sticker: { mime: 'image/webp', emoji: '😀', media: { data: STICKER_BYTES } },
  status: { text: 'Off to Lisbon' },
  disappearing: { seconds: 86_400, text: 'The door code is 4711' },
  'view-once': { media: { kind: 'image', mime: 'image/jpeg', data: PHOTO_BYTES } },
  poll: { question: 'Lunch?', options: ['Pizza', 'Sushi'] },
  location: { latitude: 51.500729, longitude: -0.124625, name: 'Big Ben', address: 'Westminster, London SW1A 0AA' },
  contact: {
    name: 'Ada Lovelace',
    phones: [{ number: '+44 7700 900123', label: 'mobile' }],
    emails: ['ada@example.com'],
    organization: 'Analytical Engines',
  },
  reaction: { target_id: 'HUBMSG0001', emoji: '👍', target_text: LONG_TEXT },
  edit: { target_id: 'CWMSG00001', text: 'See you at 9' },
  delete: { target_id: 'CWMSG00001' },
  call: { video: true },
};

export const ADA_VCARD_30 = [
  'BEGIN:VCARD',
  'VERSION:3.0',
  'FN:Ada Lovelace',
  'N:;Ada Lovelace;;;',
  'ORG:Analytical Engines',
  'TEL;TYPE=CELL:+44 7700 900123',
  'EMAIL:ada@example.com',
  'END:VCARD',
  '',
].join('\r\n');

type Converted = { message: OutboundMessage; fallbacks: Array<{ for: string; text: string }>; downgraded: Array<{ feature: string; to: string }>; notice?: string };

/** The exact send decision for each SAMPLES entry under `convert` with default options. */
export const CONVERTED: Record<UnsupportedFeature, Converted> = {
  sticker: {
    message: outbound({ media: { kind: 'image', mime: 'image/webp', data: STICKER_BYTES } }),
    fallbacks: [{ for: 'sticker', text: 'Sticker 😀' }],
    downgraded: [{ feature: 'sticker', to: 'image' }],
  },
  status: {
    message: outbound({ text: '📣 Status update: Off to Lisbon' }),
    fallbacks: [{ for: 'status', text: 'Status update' }],
    downgraded: [{ feature: 'status', to: 'text' }],
  },
  disappearing: {
    message: outbound({ text: 'The door code is 4711' }),
    fallbacks: [{ for: 'disappearing', text: 'Disappearing message (timer 1 day): the timer does not apply across networks, so it will not disappear.' }],
    downgraded: [{ feature: 'disappearing', to: 'text' }],
    notice: 'Sent without the timer: disappearing messages do not work across networks, so this message will not disappear for the recipient.',
  },
  'view-once': {
    message: outbound({ media: { kind: 'image', mime: 'image/jpeg', data: PHOTO_BYTES } }),
    fallbacks: [{ for: 'view-once', text: 'View-once photo: view-once does not apply across networks.' }],
    downgraded: [{ feature: 'view-once', to: 'image' }],
    notice: 'Sent as a normal photo: view-once does not work across networks, so the recipient can view it again and keep it.',
  },
  poll: {
    message: outbound({ text: '📊 Lunch?\n1. Pizza\n2. Sushi\n(Reply with the number.)' }),
    fallbacks: [{ for: 'poll', text: 'Poll: Lunch?' }],
    downgraded: [{ feature: 'poll', to: 'text' }],
  },
  location: {
    message: outbound({
      text: '📍 Big Ben\nWestminster, London SW1A 0AA\n51.500729, -0.124625\nhttps://www.openstreetmap.org/?mlat=51.500729&mlon=-0.124625#map=16/51.500729/-0.124625',
    }),
    fallbacks: [{ for: 'location', text: 'Location: Big Ben' }],
    downgraded: [{ feature: 'location', to: 'text' }],
  },
  contact: {
    message: outbound({
      media: { kind: 'document', mime: 'text/vcard', data: new TextEncoder().encode(ADA_VCARD_30), filename: 'Ada Lovelace.vcf', caption: '👤 Ada Lovelace' },
    }),
    fallbacks: [{ for: 'contact', text: 'Contact: Ada Lovelace' }],
    downgraded: [{ feature: 'contact', to: 'document' }],
  },
  reaction: {
    message: outbound({
      text: 'reacted 👍 to “See you at 8 tonight at the usual place by the river, bring…”',
      replyTo: { id: 'HUBMSG0001', sender: PEER },
    }),
    fallbacks: [{ for: 'reaction', text: 'Reaction 👍' }],
    downgraded: [{ feature: 'reaction', to: 'text' }],
  },
  edit: {
    message: outbound({ text: '✏️ Edited: See you at 9', replyTo: { id: 'CWMSG00001', sender: SELF } }),
    fallbacks: [{ for: 'edit', text: 'Edit of an earlier message' }],
    downgraded: [{ feature: 'edit', to: 'text' }],
    notice: 'Edits do not work across networks: the recipient got the new text as a new message.',
  },
  delete: {
    message: outbound({ text: '🗑️ alice deleted a message', replyTo: { id: 'CWMSG00001', sender: SELF } }),
    fallbacks: [{ for: 'delete', text: 'Deletion of an earlier message' }],
    downgraded: [{ feature: 'delete', to: 'text' }],
    notice: 'Deletions do not work across networks: the message stays visible to the recipient, who was told that you deleted it.',
  },
  call: {
    message: outbound({ text: '📹 alice tried to video call you. Calls do not work across networks.' }),
    fallbacks: [{ for: 'call', text: 'Video call' }],
    downgraded: [{ feature: 'call', to: 'text' }],
  },
};

/** What the sender reads for a rejected / dropped feature (decision.ts). */
export const REJECTED: Record<UnsupportedFeature, string> = {
  sticker: 'Stickers cannot be sent to contacts on other networks.',
  status: 'Status updates cannot be sent to contacts on other networks.',
  disappearing: 'Disappearing messages cannot be sent to contacts on other networks.',
  'view-once': 'View-once media cannot be sent to contacts on other networks: their app cannot make sure it is viewed only once.',
  poll: 'Polls cannot be sent to contacts on other networks.',
  location: 'Locations cannot be sent to contacts on other networks.',
  contact: 'Contact cards cannot be sent to contacts on other networks.',
  reaction: 'Reactions cannot be sent to contacts on other networks.',
  edit: 'Edits cannot be sent to contacts on other networks.',
  delete: 'Deletions cannot be sent to contacts on other networks.',
  call: 'Calls cannot be sent to contacts on other networks.',
};

export const DROPPED: Record<UnsupportedFeature, string> = {
  sticker: 'Stickers are not shared with contacts on other networks. Nothing was sent.',
  status: 'Status updates are not shared with contacts on other networks. Nothing was sent.',
  disappearing: 'Disappearing messages are not shared with contacts on other networks. Nothing was sent.',
  'view-once': 'View-once media are not shared with contacts on other networks. Nothing was sent.',
  poll: 'Polls are not shared with contacts on other networks. Nothing was sent.',
  location: 'Locations are not shared with contacts on other networks. Nothing was sent.',
  contact: 'Contact cards are not shared with contacts on other networks. Nothing was sent.',
  reaction: 'Reactions are not shared with contacts on other networks. Nothing was sent.',
  edit: 'Edits are not shared with contacts on other networks. Nothing was sent.',
  delete: 'Deletions do not reach contacts on other networks: the message stays visible to the recipient. Nothing was sent.',
  call: 'Calls are not shared with contacts on other networks. Nothing was sent.',
};
