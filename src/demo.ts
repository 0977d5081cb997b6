// `causeway demo`: the first thing a newcomer runs. Starts an in-process mock hub on a free port
// with one hub user (+447700900123 "Ada", echo + read receipts), enrols provider "birdy" with a
// fresh Ed25519 key, and drives a reference client for alice@birdy.interop through a short
// conversation, printing it for humans. Real libsignal sessions (PQXDH) on both sides.
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { startMockHub } from './mock-hub/index.ts';
import type { MockHub } from './mock-hub/index.ts';
import { mockHubConfigSchema } from './mock-hub/config.ts';
import { ReferenceProviderClient, generateProviderKey } from './mock-hub/reference-client/index.ts';
import type { ReceiptStanza } from './protocol/index.ts';

export interface DemoOptions {
  logger?: Logger;
  /** Where the conversation is printed; default process.stdout. */
  stdout?: NodeJS.WritableStream;
  /** Call process.exit with the result (for the CLI). */
  exitAfter?: boolean;
}

const ADA_PHONE = '+447700900123';
const MESSAGES = ['Hello from BirdyChat', 'Can you read this, Ada?'];
const STEP_TIMEOUT_MS = 10_000;

/** Runs the demo; resolves 0 on success, 1 if any step failed (the reason is printed). */
export async function runDemo(o: DemoOptions = {}): Promise<number> {
  const out = o.stdout ?? process.stdout;
  const say = (line: string): void => {
    out.write(`${line}\n`);
  };
  const logger = o.logger ?? pino({ level: 'warn' }, pino.destination(2));
  let hub: MockHub | undefined;
  let alice: ReferenceProviderClient | undefined;
  let code = 0;
  try {
    const key = await generateProviderKey('birdy-demo');
    const config = mockHubConfigSchema.parse({
      listen: { host: '127.0.0.1', port: 0 },
      admin_token: randomBytes(16).toString('hex'),
      providers: [{ id: 'birdy', name: 'BirdyChat', jwks: { keys: [key.publicJwk] } }],
      users: [{ phone: ADA_PHONE, name: 'Ada', script: { echo: true, receipts: true, read: true } }],
    });
    hub = await startMockHub(config, { logger });
    say(`Mock hub listening on ${hub.url} (HIP/1 at ${hub.wsUrl})`);
    say(`Hub user Ada (${ADA_PHONE}) answers with an echo and sends read receipts.`);
    say('');

    alice = await ReferenceProviderClient.create({ wsUrl: hub.wsUrl, providerId: 'birdy', local: 'alice', privateJwk: key.privateJwk, kid: key.kid });
    await alice.open();
    say(`${alice.address}: session open (provider "birdy", Ed25519 token)`);
    await alice.uploadKeys();
    say(`${alice.address}: keys uploaded (identity, signed + Kyber prekeys, one-time prekeys)`);
    await alice.enlist();
    say(`${alice.address}: enlisted for interop`);
    const ada = await alice.lookup(ADA_PHONE);
    say(`${alice.address}: ${ADA_PHONE} is ${ada}`);
    say('');

    for (const text of MESSAGES) {
      const client = alice;
      const about = (id: string, type: ReceiptStanza['type']) => (r: ReceiptStanza): boolean =>
        r.type === type && r.from === ada && (r.id === id || (r.list ?? []).includes(id));
      const { id, ack } = await client.sendText(ada, text);
      if (ack.error !== undefined) throw new Error(`the hub refused the message: ${ack.error} ${ack.reason ?? ''}`);
      say(`alice → Ada: ${text}  [sent ✓]`);
      // Receipts and the reply arrive in whatever order the hub delivers them; print each as it comes.
      const steps = await Promise.allSettled([
        client.nextReceipt(about(id, 'delivery'), STEP_TIMEOUT_MS).then(() => say(`             delivered to Ada ✓✓`)),
        client.nextReceipt(about(id, 'read'), STEP_TIMEOUT_MS).then(() => say(`             read by Ada ✓✓`)),
        client.nextMessage(STEP_TIMEOUT_MS).then(async (m) => {
          say(`Ada → alice: ${m.content.text ?? '(no text)'}`);
          await client.sendReceipt(m.stanza.from, [m.stanza.id], 'read');
        }),
      ]);
      const failed = steps.find((r) => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    }
    say('');
    say('Done: every message was end-to-end encrypted with libsignal (PQXDH + double ratchet) on both sides.');
  } catch (err) {
    code = 1;
    say(`Demo failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await alice?.close().catch(() => undefined);
    await hub?.close().catch(() => undefined);
  }
  if (o.exitAfter === true) process.exit(code);
  return code;
}
