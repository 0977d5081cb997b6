// The application service registration file the homeserver loads (Matrix AS API "Registration"),
// built from the adapter's config: tokens, the bridge's URL, an exclusive user namespace for the
// bot and the puppets, and the unstable flags that turn on what end-to-bridge encryption needs:
// ephemeral events and to-device events (MSC2409/MSC4203) and device lists and one-time key
// counts (MSC3202). Printed by `causeway matrix-registration`.
import type { Secret } from '../../src/config/secret.ts';
import { BridgeIds } from './ids.ts';

export interface RegistrationInput {
  registration_id: string;
  appservice_url: string;
  as_token: Secret;
  hs_token: Secret;
  server_name: string;
  bot_localpart: string;
  puppet_localpart: string;
  namespace_regex?: string | undefined;
}

export interface Registration {
  id: string;
  url: string;
  as_token: string;
  hs_token: string;
  sender_localpart: string;
  namespaces: { users: Array<{ exclusive: boolean; regex: string }>; aliases: never[]; rooms: never[] };
  rate_limited: boolean;
  receive_ephemeral: boolean;
  'de.sorunome.msc2409.push_ephemeral': boolean;
  'org.matrix.msc3202': boolean;
  'io.element.msc4190': boolean;
}

/** The registration document; it carries both tokens in clear, as the homeserver needs them. */
export function buildRegistration(c: RegistrationInput): Registration {
  const ids = new BridgeIds(c);
  return {
    id: c.registration_id,
    url: c.appservice_url,
    as_token: c.as_token.reveal(),
    hs_token: c.hs_token.reveal(),
    sender_localpart: c.bot_localpart,
    namespaces: { users: [{ exclusive: true, regex: ids.namespaceRegex() }], aliases: [], rooms: [] },
    rate_limited: false,
    receive_ephemeral: true,
    'de.sorunome.msc2409.push_ephemeral': true,
    'org.matrix.msc3202': true,
    'io.element.msc4190': true,
  };
}
