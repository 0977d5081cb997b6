// Bot commands, typed in a user's management room (a DM with the bridge bot): opt in and out of
// hub chats, start a chat by phone number (directory lookup, spec 10), choose the inbox mode.
import type { Bridge } from './bridge.ts';
import { phoneDigits } from './ids.ts';

export interface CommandInput {
  roomId: string;
  userId: string;
  text: string;
}

export function helpText(b: Bridge): string {
  const hub = b.config.hub_name;
  return [
    `I bridge your chats with ${hub} users (a third-party network: messages leave this homeserver, end-to-end encrypted).`,
    'Commands:',
    `  optin            turn on ${hub} chats for your account`,
    `  optout           turn them off`,
    `  start +PHONE     start a chat with the ${hub} user with this number`,
    `  inbox combined   show ${hub} chats among your other rooms`,
    `  inbox space      gather them in a "${b.config.space_name}" space`,
    '  help             this text',
  ].join('\n');
}

export async function handleCommand(b: Bridge, c: CommandInput): Promise<void> {
  const encrypted = (await b.api.roomState({ userId: b.ids.botUserId }, c.roomId, 'm.room.encryption').catch(() => undefined)) !== undefined;
  const reply = (text: string) => b.botNotice(c.roomId, c.userId, text, encrypted);
  const [cmd = '', ...args] = c.text.trim().replace(/^!hub\s+/i, '').split(/\s+/);
  const local = b.ids.localOf(c.userId);
  if (!local) return void (await reply(`Your user id cannot be bridged: ${b.config.hub_name} needs a localpart of [a-z0-9._=-] on ${b.config.server_name}.`));
  const core = b.requireCore();
  switch (cmd.toLowerCase()) {
    case 'optin':
      await core.setInterop(b.adapterId, local, true);
      return void (await reply(`${b.config.hub_name} chats are on. ${b.config.hub_name} users who accept third-party chats can now reach you.`));
    case 'optout':
      await core.setInterop(b.adapterId, local, false);
      return void (await reply(`${b.config.hub_name} chats are off.`));
    case 'start': {
      const digits = phoneDigits(args.join(''));
      if (!digits) return void (await reply('Give a phone number in international format, such as: start +447700900123'));
      const hubUser = await core.lookup(local, `+${digits}`).catch(() => undefined);
      if (!hubUser) return void (await reply(`+${digits} cannot be reached on ${b.config.hub_name} (unknown, or has not turned on third-party chats).`));
      const portal = await b.ensurePortal(c.userId, local, hubUser);
      return void (await reply(`Chat with +${digits} created: ${portal.roomId} (you are invited).`));
    }
    case 'inbox': {
      const mode = args[0];
      if (mode !== 'combined' && mode !== 'space') return void (await reply('Use: inbox combined, or inbox space'));
      await b.portals.setInboxMode(c.userId, mode);
      if (mode === 'space') await b.ensureSpace(c.userId);
      return void (await reply(mode === 'space' ? `New ${b.config.hub_name} chats will appear in the "${b.config.space_name}" space.` : `${b.config.hub_name} chats will appear among your other rooms.`));
    }
    case 'help':
    case '':
      return void (await reply(helpText(b)));
    default:
      return void (await reply(`Unknown command "${cmd}".\n\n${helpText(b)}`));
  }
}
