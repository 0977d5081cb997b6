// Counters for GET /control/stats. `sessions` is computed from the session registry when read.
export interface Counters {
  /** Messages the hub accepted: from provider clients (positive ack) and sent by simulated users. */
  messages_accepted: number;
  /** Message copies handed to a recipient device: a simulated device, or acked by a provider client. */
  messages_delivered: number;
  /** Stanzas (of any kind) stored for a provider user with no open session. */
  offline_stored: number;
  /** Pushes answered 2xx by the provider. */
  pushes_sent: number;
  /** Sessions replaced by a newer one of the same user (`conflict`, 4409): replicas fighting over a user. */
  sessions_replaced: number;
}

export function newCounters(): Counters {
  return { messages_accepted: 0, messages_delivered: 0, offline_stored: 0, pushes_sent: 0, sessions_replaced: 0 };
}
