// Converters whose result is text (spec 11 `<text>`, with `<reply>` where the original answered a
// message): location, poll, edit, delete, reaction, call. Pure; the exact texts are documented in
// docs/downgrade-policy.md and asserted in test/policy.
import type { DowngradeOptions } from '../config/policy-schema.ts';
import { afterOwnText, type Conversion, type ConvertEnv } from './convert-env.ts';
import { dropMessage } from './decision.ts';
import type { CallData, DeleteData, EditData, LocationData, PollData, ReactionData } from './features.ts';
import { coordinate, excerpt, fill, lines, oneLine } from './text.ts';

/** Longest name or question quoted in a `<fallback>` text, in user-perceived characters. */
const LABEL_LENGTH = 100;

export function location(d: LocationData, o: DowngradeOptions['location'], env: ConvertEnv): Conversion {
  const lat = coordinate(d.latitude);
  const lon = coordinate(d.longitude);
  const url = fill(o.map_url, { lat, lon, zoom: String(o.zoom) });
  const name = d.name === undefined ? undefined : oneLine(d.name);
  const text = lines(
    `📍 ${name ?? (d.live ? 'Live location' : 'Location')}`,
    d.address?.trim(),
    `${lat}, ${lon}`,
    url,
    d.live === true && '(Live location: this is where it was when shared; updates are not sent.)',
  );
  return {
    kind: 'converted',
    text: afterOwnText(env, text),
    fallback: `${d.live ? 'Live location' : 'Location'}${name === undefined ? '' : `: ${excerpt(name, LABEL_LENGTH)}`}`,
    to: 'text',
    ...(d.live ? { notice: 'Live location does not work across networks: the recipient got the current position only, without updates.' } : {}),
  };
}

export function poll(d: PollData, o: DowngradeOptions['poll'], env: ConvertEnv): Conversion {
  const text = lines(
    `📊 ${oneLine(d.question)}`,
    ...d.options.map((opt, i) => `${i + 1}. ${oneLine(opt)}`),
    d.multiple ? o.footer_multiple : o.footer,
  );
  return {
    kind: 'converted',
    text: afterOwnText(env, text),
    fallback: `Poll${d.multiple ? ' (several answers allowed)' : ''}: ${excerpt(d.question, LABEL_LENGTH)}`,
    to: 'text',
  };
}

export function edit(d: EditData, o: DowngradeOptions['edit'], env: ConvertEnv): Conversion {
  return {
    kind: 'converted',
    text: afterOwnText(env, `${o.prefix}${d.text}`),
    replyTo: { id: d.target_id, sender: env.self },
    fallback: 'Edit of an earlier message',
    to: 'text',
    notice: 'Edits do not work across networks: the recipient got the new text as a new message.',
  };
}

/** A deletion for the sender only: nothing for the recipient, whatever the rule (engine.ts). */
export const LOCAL_ONLY_DELETE = { kind: 'drop', reason: 'local-only', message: 'Deleted for you only: nothing was sent to the recipient.' } as const;

export function deletion(d: DeleteData, o: DowngradeOptions['delete'], env: ConvertEnv): Conversion {
  if (!o.notice) return { kind: 'drop', reason: 'dropped-by-policy', message: dropMessage('delete') };
  return {
    kind: 'converted',
    text: afterOwnText(env, fill(o.text, { sender: env.msg.from })),
    replyTo: { id: d.target_id, sender: env.self },
    fallback: 'Deletion of an earlier message',
    to: 'text',
    notice: 'Deletions do not work across networks: the message stays visible to the recipient, who was told that you deleted it.',
  };
}

export function reaction(d: ReactionData, o: DowngradeOptions['reaction'], env: ConvertEnv): Conversion {
  const emoji = oneLine(d.emoji);
  const quoted = d.target_text === undefined ? '' : excerpt(d.target_text, o.excerpt_length);
  const text = quoted === '' ? fill(o.text_no_excerpt, { emoji }) : fill(o.text, { emoji, excerpt: quoted });
  return {
    kind: 'converted',
    text: afterOwnText(env, text),
    replyTo: { id: d.target_id, sender: d.target_sender === 'self' ? env.self : env.msg.to },
    fallback: `Reaction ${emoji}`,
    to: 'text',
  };
}

export function call(d: CallData, o: DowngradeOptions['call'], env: ConvertEnv): Conversion {
  return {
    kind: 'converted',
    text: afterOwnText(env, fill(d.video ? o.text_video : o.text, { sender: env.msg.from })),
    fallback: d.video ? 'Video call' : 'Call',
    to: 'text',
  };
}
