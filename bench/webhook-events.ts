// Micro-benchmark of the webhook adapter's outgoing events (not part of `npm run bench`):
//   node bench/webhook-events.ts [--events N] [--users U] [--in-flight K] [--monitor-events M]
//                                [--max-events-per-post B]   (B > 1: the opt-in batches)
// Starts its own redis-server (AOF everysec, bench/redis-server.ts) and a provider endpoint in a
// child process (this file with --receiver: answers 200, checks per-user order, counts
// duplicates), then hands the connector `message.status` events with K calls in flight, spread
// over U users, as the core does for each message's `sent` status. Prints events per second
// (first hand-over → last arrival), this process's CPU per event (the adapter alone: the
// receiver has its own process), Redis CPU and commands per event (INFO commandstats, commands
// run by scripts included) and, in a shorter MONITOR phase, client round trips per event.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import type { CoreApi, MessageStatus } from '../adapters/contract.ts';
import { webhookConfigSchema } from '../adapters/webhook/config.ts';
import { createWebhookConnector, type WebhookConnector } from '../adapters/webhook/index.ts';
import { Keyring } from '../src/crypto/keyring.ts';
import { RedisMonitor } from './redis-monitor.ts';
import { commandStats, startRedis } from './redis-server.ts';

type Stats = { count: number; duplicates: number; outOfOrder: number; posts: number };
type FromReceiver = { port: number } | Stats;

/** The provider's endpoint, in its own process so its CPU is not charged to the adapter. */
function receiverMain(): void {
  const last = new Map<string, number>();
  const seen = new Set<string>();
  let count = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let posts = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      type Ev = { event_id: string; data: { from: string; message_id: string } };
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Ev | { events: Ev[] };
      posts++;
      for (const e of 'events' in body ? body.events : [body]) {
        if (seen.has(e.event_id)) {
          duplicates++;
          continue;
        }
        seen.add(e.event_id);
        count++;
        const seq = Number(e.data.message_id.split('-').at(-1));
        if (seq <= (last.get(e.data.from) ?? -1)) outOfOrder++;
        last.set(e.data.from, seq);
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as { port: number }).port }));
  process.on('message', () => process.send?.({ count, duplicates, outOfOrder, posts }));
  process.on('disconnect', () => process.exit(0));
}

class ReceiverChild {
  readonly #child: ChildProcess;
  #waiting: Array<(m: FromReceiver) => void> = [];
  constructor() {
    this.#child = fork(import.meta.filename, ['--receiver'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#child.on('message', (m: FromReceiver) => this.#waiting.shift()?.(m));
  }
  #next(): Promise<FromReceiver> {
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
  async port(): Promise<number> {
    return ((await this.#next()) as { port: number }).port;
  }
  async stats(): Promise<Stats> {
    const p = this.#next();
    this.#child.send('stats');
    return (await p) as Stats;
  }
  stop(): void {
    this.#child.kill('SIGTERM');
  }
}

const redisCpu = async (r: Redis): Promise<number> => {
  const info = await r.info('cpu');
  const v = (k: string) => Number(new RegExp(`${k}:([0-9.]+)`).exec(info)?.[1] ?? 0);
  return (v('used_cpu_sys') + v('used_cpu_user')) * 1e6; // µs
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      events: { type: 'string', default: '10000' },
      users: { type: 'string', default: '64' },
      'in-flight': { type: 'string', default: '256' },
      'monitor-events': { type: 'string', default: '1000' },
      'max-events-per-post': { type: 'string', default: '1' },
    },
  });
  const N = Number(values.events);
  const U = Number(values.users);
  const K = Number(values['in-flight']);
  const M = Number(values['monitor-events']);
  const B = Number(values['max-events-per-post']);
  const redisServer = await startRedis();
  const receiver = new ReceiverChild();
  const port = await receiver.port();
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: 3 });
  const prefix = `bench-${randomBytes(4).toString('hex')}`;
  const connector: WebhookConnector = createWebhookConnector({
    id: 'bench',
    config: webhookConfigSchema.parse({ api_tokens: ['t'], webhook_url: `http://127.0.0.1:${port}/hooks`, webhook_secret: 'bench-secret', max_events_per_post: B }),
    redis,
    keyring: new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1'),
    prefix,
    logger: pino({ level: 'silent' }),
  });
  connector.init({ providerId: 'bench' } as CoreApi); // the bench only hands events over
  await connector.start();
  let handed = 0;
  const status = (i: number): MessageStatus => ({
    messageId: `M-${i % U}-${i}`, idempotencyKey: `k${i}`, from: `user${i % U}`, to: '447700900123@hub', state: 'sent', at: 1_763_800_000_000 + i,
  });
  /** Hands `n` events over with K calls in flight and waits until the receiver has them all. */
  async function run(n: number): Promise<number> {
    const start = handed;
    const target = (await receiver.stats()).count + n;
    const t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(K, n) }, async () => {
      while (next < n) await connector.status(status(start + next++));
    }));
    handed += n;
    const deadline = Date.now() + 120_000;
    while ((await receiver.stats()).count < target) {
      if (Date.now() > deadline) throw new Error('timed out waiting for the receiver');
      await new Promise((r) => setTimeout(r, 5));
    }
    return performance.now() - t0;
  }

  await run(Math.min(1000, N)); // warm-up: connections, JIT, scripts loaded
  await redisServer.client.config('RESETSTAT');
  const rc0 = await redisCpu(redisServer.client);
  const cpu0 = process.cpuUsage();
  const ms = await run(N);
  const cpu = process.cpuUsage(cpu0);
  const rc1 = await redisCpu(redisServer.client);
  const stats = await commandStats(redisServer.client);
  const own = (stats.info ?? 0) + (stats.config ?? 0);
  const commands = Object.values(stats).reduce((a, b) => a + b, 0) - own;

  const monitor = new RedisMonitor(redisServer.url, prefix);
  await monitor.start();
  await run(M);
  await new Promise((r) => setTimeout(r, 200));
  const attribution = monitor.stop();
  const final = await receiver.stats();

  const perEvent = (x: number, n: number) => Math.round((x / n) * 10) / 10;
  const top = Object.entries(stats).filter(([k]) => k !== 'info' && k !== 'config').sort((a, b) => b[1] - a[1]).slice(0, 12);
  process.stdout.write([
    `webhook events: ${N} message.status events, ${U} users, ${K} hand-overs in flight, max_events_per_post ${B}`,
    `  events per second           ${Math.round(N / (ms / 1000))}`,
    `  adapter CPU per event       ${perEvent(cpu.user + cpu.system, N)} µs (this process; the receiver runs apart)`,
    `  Redis CPU per event         ${perEvent(rc1 - rc0, N)} µs`,
    `  Redis commands per event    ${perEvent(commands, N)} (INFO commandstats, script-run commands included)`,
    `  Redis round trips per event ${perEvent(attribution.roundTrips, M)} (MONITOR, ${M} events; commands ${perEvent(attribution.commands, M)})`,
    `  commands by name (per event): ${top.map(([k, v]) => `${k} ${perEvent(v, N)}`).join(', ')}`,
    `  receiver: ${final.count} events in ${final.posts} POSTs, ${final.duplicates} duplicates, ${final.outOfOrder} out of per-user order`,
    '',
  ].join('\n'));
  await connector.stop();
  redis.disconnect();
  receiver.stop();
  await redisServer.stop();
  if (final.outOfOrder > 0) process.exitCode = 1;
}

if (process.argv.includes('--receiver')) receiverMain();
else await main();
