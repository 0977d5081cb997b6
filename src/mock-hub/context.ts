// The parts of a running mock hub, as seen by the stanza handlers (router, receipts, iq), the
// notification helpers and the control API. Built once in hub.ts; this file only names the shape
// so that those modules do not import hub.ts (no import cycles).
import type { Logger } from 'pino';
import type { Stanza } from '../protocol/index.ts';
import type { Authenticator } from './auth.ts';
import type { MockHubConfig } from './config.ts';
import type { Directory } from './directory.ts';
import type { Faults } from './faults.ts';
import type { IdempotenceStore } from './idempotence.ts';
import type { MediaStore } from './media.ts';
import type { Mailboxes } from './offline.ts';
import type { PreKeyDirectory } from './prekeys.ts';
import type { Pusher } from './push.ts';
import type { SessionRegistry } from './sessions.ts';
import type { SimUsers } from './sim-users.ts';
import type { Counters } from './stats.ts';
import type { Timers } from './timers.ts';

export interface HubContext {
  readonly config: MockHubConfig;
  readonly log: Logger;
  readonly timers: Timers;
  readonly counters: Counters;
  readonly directory: Directory;
  readonly prekeys: PreKeyDirectory;
  readonly idempotence: IdempotenceStore;
  readonly mailboxes: Mailboxes;
  readonly faults: Faults;
  readonly sim: SimUsers;
  readonly media: MediaStore;
  readonly pusher: Pusher;
  readonly sessions: SessionRegistry;
  readonly auth: Authenticator;
  /** Queues a stanza for a provider user now (notifications). */
  toProvider(user: string, stanza: Stanza): void;
  /**
   * Queues a message or receipt for a provider user, held while routing is stopped (faults);
   * dropped when the user is not reachable (not enlisted) by then.
   */
  routeToProvider(user: string, stanza: Stanza): void;
  /** A provider user's bundle handed to a hub user: consumes keys, makes contacts, may notify (spec 7.2, 8). */
  providerBundle(hubUser: string, providerUser: string): ReturnType<PreKeyDirectory['takeBundle']>;
}
