// `causeway demo`: the README's first command. Starts, in this process, the mock hub with a hub
// user Ada (+447700900123: echo and read receipts), Causeway itself from the embedded default
// configuration with the webhook adapter, and a small demo provider (BirdyChat's backend: it calls
// Causeway's API and receives its signed webhooks). The provider user alice opts in, finds Ada by
// phone number, and they exchange messages; every status is printed as the provider sees it.
// Redis: the one at 127.0.0.1:6379 if it answers, else a throwaway redis-server.
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { adapterConfigSchemas } from '../../adapters/registry.ts';
import { parseCausewayConfig } from '../config/causeway.ts';
import { defaultConfigYaml } from '../config/default-config.ts';
import { startCauseway, type Causeway } from '../main.ts';
import { startMockHub, type MockHub } from '../mock-hub/index.ts';
import { DemoProvider, type DemoEvent } from './provider.ts';
import { demoRedis, forget } from './redis.ts';

export interface DemoOptions {
  logger?: Logger;
  /** Where the conversation is printed; default process.stdout. */
  stdout?: NodeJS.WritableStream;
}

const ADA_PHONE = '+447700900123';
const MESSAGES = ['Hello from BirdyChat', 'Can you read this, Ada?'];
const STEP_MS = 15_000;

const isStatus = (id: string, state: string) => (e: DemoEvent) => e.type === 'message.status' && e.data.message_id === id && e.data.state === state;

/** Runs the demo; resolves 0 on success, 1 if any step failed (the reason is printed). */
export async function runDemo(o: DemoOptions = {}): Promise<number> {
  const out = o.stdout ?? process.stdout;
  const say = (line: string): void => void out.write(`${line}\n`);
  const logger = o.logger ?? pino({ level: 'warn' }, pino.destination(2));
  const provider = new DemoProvider(randomBytes(18).toString('base64url'));
  let hub: MockHub | undefined;
  let causeway: Causeway | undefined;
  let redis: Awaited<ReturnType<typeof demoRedis>> | undefined;
  let prefix: string | undefined;
  try {
    redis = await demoRedis(process.env.CAUSEWAY_DEMO_REDIS_URL ?? 'redis://127.0.0.1:6379');
    await provider.start();
    provider.token = randomBytes(18).toString('base64url');
    const yaml = defaultConfigYaml({ redisUrl: redis.url, webhook: { url: provider.url, apiToken: provider.token, secret: provider.secret } });
    const config = parseCausewayConfig(yaml, '(embedded default config)', adapterConfigSchemas);
    if (!config.mock_hub) throw new Error('the embedded default config has no mock_hub section');
    hub = await startMockHub({ ...config.mock_hub, listen: { host: '127.0.0.1', port: 0 } }, { logger });
    say(`Mock hub listening on ${hub.url} (HIP/1 at ${hub.wsUrl}); Redis at ${redis.url}${redis.started ? ' (started for the demo)' : ''}`);
    prefix = `causeway-demo-${randomBytes(3).toString('hex')}`;
    causeway = await startCauseway(
      { ...config, mock_hub: undefined, metrics: { ...config.metrics, enabled: false }, server: { ...config.server, port: 0 }, hub: { ...config.hub, url: hub.url.replace(/^http/, 'ws') }, redis: { ...config.redis, key_prefix: prefix } },
      { logger },
    );
    provider.api = causeway.url;
    say(`Causeway listening on ${causeway.url} with the webhook adapter; the demo provider receives its webhooks at ${provider.url}`);
    say('Hub user Ada (+447700900123) answers with an echo and sends read receipts.');
    say('');

    await provider.call('PUT', '/v1/users/alice/interop', { enabled: true });
    say('alice: opted in to third-party chats (Signal identity with Kyber prekeys uploaded, enlisted)');
    const { jid } = (await provider.call('GET', `/v1/directory?user=alice&phone=${encodeURIComponent(ADA_PHONE)}`)) as { jid: string };
    say(`alice: ${ADA_PHONE} is ${jid}`);
    say('');

    for (const [i, text] of MESSAGES.entries()) {
      const replied = provider.next((e) => e.type === 'message.received' && e.data.text === `echo: ${text}`, STEP_MS, `Ada's reply to "${text}"`);
      const { message_id: id } = (await provider.call('POST', '/v1/messages', { from: 'alice', to: jid, text }, { 'idempotency-key': `demo-${i}` })) as { message_id: string };
      const sent = provider.next(isStatus(id, 'sent'), STEP_MS, 'sent');
      const delivered = provider.next(isStatus(id, 'delivered'), STEP_MS, 'delivered');
      const read = provider.next(isStatus(id, 'read'), STEP_MS, 'read');
      say(`alice → Ada: ${text}  [queued]`);
      await sent;
      say('             sent to the hub ✓');
      await delivered;
      say('             delivered to Ada ✓✓');
      await read;
      say('             read by Ada ✓✓');
      const reply = await replied;
      say(`Ada → alice: ${String(reply.data.text)}`);
      await provider.call('POST', '/v1/receipts', { user: 'alice', peer: jid, message_ids: [reply.data.id], type: 'read' });
      say('             read by alice ✓✓');
    }
    say('');
    if (provider.forged > 0) throw new Error(`${provider.forged} webhook(s) failed signature verification`);
    say('Done: end-to-end encrypted with libsignal (PQXDH, double ratchet) between Causeway and Ada\'s devices;');
    say('every webhook the provider received carried a valid signature.');
    return 0;
  } catch (err) {
    say(`Demo failed: ${(err as Error).message}`);
    return 1;
  } finally {
    await causeway?.close().catch(() => undefined);
    await hub?.close().catch(() => undefined);
    await provider.stop();
    if (redis && prefix) await forget(redis.url, prefix).catch(() => undefined);
    redis?.stop();
  }
}
