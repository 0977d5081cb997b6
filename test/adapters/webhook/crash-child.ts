// A separate process for the crash test (durability.test.ts): runs a webhook connector, hands it
// one message, says "stored", and waits to be killed with SIGKILL while the POST is in flight.
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createWebhookConnector } from '../../../adapters/webhook/index.ts';
import { Keyring } from '../../../src/crypto/keyring.ts';
import { FakeCore, webhookConfig } from './support.ts';

const env = (name: string): string => {
  const v = process.env[name];
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};

const redis = new Redis(env('CW_REDIS_URL'));
const c = createWebhookConnector({
  id: 'crash',
  config: webhookConfig({ webhook_url: env('CW_URL'), timeout_ms: 60_000 }),
  redis,
  keyring: new Keyring([{ id: 'k1', key: Buffer.from(env('CW_KEK'), 'base64') }], 'k1'),
  prefix: env('CW_PREFIX'),
  logger: pino({ level: 'silent' }),
  tuning: { leaseMs: 1000, sweepIntervalMs: 300 }, // a short lease: the recovering instance takes the lane over soon
});
c.init(new FakeCore());
await c.start();
await c.deliver({ id: 'CRASH001', from: '447700900123@hub', fromDevice: '447700900123:0@hub', to: 'alice', t: 1_763_800_100, text: 'in flight', offline: false });
process.stdout.write('stored\n');
setInterval(() => undefined, 60_000);
