// Reference client for tests, demos and providers' CI — not the sidecar. A minimal provider-side
// HIP/1 client: provider keys and session tokens, a raw frame connection, and a one-user client
// with a real libsignal device (SimDevice).
export { generateProviderKey, mintSessionToken } from './token.ts';
export type { JWK, MintOptions, ProviderKey } from './token.ts';
export { HipClosedError, HipConnection, HipUpgradeError } from './connection.ts';
export type { ConnectOptions, FrameLogEntry } from './connection.ts';
export { ReferenceProviderClient } from './client.ts';
export type { ReferenceClientOptions } from './client.ts';
export type { ReceivedMessage } from './inbox.ts';
export { HipAckError, HipIqError, HipSessionError } from './context.ts';
export type { ClientEvent, ClientStats } from './context.ts';
export { TimeoutError, WaitQueue } from './wait-queue.ts';
export { SimDecryptError, SimDevice } from '../sim-device.ts';
