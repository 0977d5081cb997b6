// `npm run bench`: benchmarks of the whole Causeway path, printed beside reference ceilings, with
// the targets of the issue judged (docs/benchmarks.md says how to read the output). Starts its own
// redis-server (AOF everysec) and stops it at the end; every phase is bounded in count and time.
import { mkdtempSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { bullmqCeiling, libsignalCeiling } from './ceilings.ts';
import { loadProfile, sliceProfile } from './cpu-profile.ts';
import { median, spread } from './measure.ts';
import { parseOptions } from './options.ts';
import { warmUp } from './paths.ts';
import { Phases, figures, type Direction, type PathFigures, type PathSample } from './phases.ts';
import { formatText, judge, type BenchResult, type Ceiling, type PacedFigures } from './report.ts';
import { startRedis, type BenchRedis } from './redis-server.ts';
import { matrixBench, type MatrixFigures } from './matrix.ts';
import { holdSessions, type SessionsResult } from './sessions.ts';
import { startStack, warnings, type Stack } from './stack.ts';

const log = (m: string): void => void process.stderr.write(`[bench] ${m}\n`);
const ceiling = (samples: number[]): Ceiling => ({ samples, median: median(samples), spread: spread(samples) });
const DIRS: Direction[] = ['outbound', 'inbound'];

async function main(): Promise<number> {
  const o = parseOptions(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'causeway-bench-'));
  const loadavgStart = loadavg();
  let redis: BenchRedis | undefined;
  let stack: Stack | undefined;
  const stopAll = async (): Promise<void> => {
    await stack?.close().catch(() => undefined);
    await redis?.stop().catch(() => undefined);
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  try {
    redis = await startRedis();
    const redisVersion = /redis_version:(\S+)/.exec(await redis.client.info('server'))?.[1] ?? '?';
    log(`redis-server ${redisVersion} on port ${redis.port} (AOF everysec); files under ${dir}`);

    log('ceiling: libsignal encrypt/decrypt on this thread');
    const ls = await libsignalCeiling(o.quick ? 3 : 5, o.quick ? 500 : 1000);
    log('ceiling: BullMQ add + process');
    const bq = await bullmqCeiling(redis.url, o.samples, o.quick ? 3000 : 10_000);

    log(`starting the stack: Causeway child, mock hub (decrypt_sample_rate ${o.decryptSampleRate}), ${o.providers} × ${o.hubUsers} conversations`);
    const s = (stack = await startStack({
      redisUrl: redis.url, prefix: `bench-${randomBytes(3).toString('hex')}`, dir, providerUsers: o.providers, hubUsers: o.hubUsers,
      decryptSampleRate: o.decryptSampleRate, maxSessions: o.providers + 1000, cpuProfile: o.profile, eventsPerPost: o.eventsPerPost, devices: o.devices,
    }));
    const hubCheck = { decrypted: 0, skipped: 0, errors: 0 };
    s.hub.core.sim.onInbox((_jid, e) => {
      if (e.decrypted) hubCheck.decrypted++;
      else if (e.skipped) hubCheck.skipped++;
      if (e.error !== undefined) hubCheck.errors++;
    });
    log('warm-up: one message each way per conversation');
    await warmUp(s, o.deadlineMs);
    const phases = new Phases(s, redis, o.deadlineMs, o.providers * o.hubUsers);

    const throughput: Record<Direction, PathSample[]> = { outbound: [], inbound: [] };
    for (const d of DIRS) {
      let count = o.quick ? 1000 : 2000;
      for (let k = 0; k < o.samples; k++) {
        log(`${d} throughput sample ${k + 1}/${o.samples}: ${count} messages`);
        const r = await phases.throughput(d, count);
        throughput[d].push(r);
        count = Math.min(40_000, Math.max(500, Math.round(r.rate * o.sampleSeconds)));
      }
    }
    const out = figures(throughput.outbound);
    const inb = figures(throughput.inbound);

    // The same outbound path, the load generator handing over o.batch messages per request.
    let batched: PathFigures | undefined;
    if (o.batch > 0) {
      const samples: PathSample[] = [];
      let count = o.quick ? 1000 : 2000;
      for (let k = 0; k < o.samples; k++) {
        log(`outbound throughput, batched by ${o.batch}, sample ${k + 1}/${o.samples}: ${count} messages`);
        const r = await phases.throughput('outbound', count, 512, o.batch);
        samples.push(r);
        count = Math.min(40_000, Math.max(500, Math.round(r.rate * o.sampleSeconds)));
      }
      batched = figures(samples);
    }

    // The target's rate, or 80% of the measured throughput if that is less; and a light load
    // (a quarter of it, at most 100/s) for the latency of the path itself, without queueing.
    const paced = {} as Record<Direction, PacedFigures>;
    const light = {} as Record<Direction, PacedFigures>;
    const pace = async (d: Direction, rate: number, samples: number, lowered: boolean): Promise<PacedFigures> => {
      const runs: Array<Awaited<ReturnType<Phases['paced']>>> = [];
      for (let k = 0; k < samples; k++) {
        log(`${d} paced sample ${k + 1}/${samples}: ${rate} msg/s for ${o.pacedSeconds} s`);
        runs.push(await phases.paced(d, rate, o.pacedSeconds));
      }
      const med = (f: (x: (typeof runs)[number]) => number): number => median(runs.map(f));
      return {
        rate, samples: runs, lowered, p50: med((x) => x.p50), p99: med((x) => x.p99), max: med((x) => x.max),
        loop: { loopDelayP99Ms: med((x) => x.loopDelayP99Ms), loopDelayMaxMs: med((x) => x.loopDelayMaxMs), gcMs: med((x) => x.gcMs), gcMajorMs: med((x) => x.gcMajorMs) },
      };
    };
    for (const d of DIRS) {
      const measured = d === 'outbound' ? out.rate : inb.rate;
      const rate = Math.max(10, Math.min(o.pacedRate, Math.floor((0.8 * measured) / 10) * 10));
      paced[d] = await pace(d, rate, o.samples, rate < o.pacedRate);
      light[d] = await pace(d, Math.max(10, Math.min(100, Math.floor(measured / 40) * 10)), 1, false);
    }

    log('Redis attribution (MONITOR)');
    const attribution = {
      outbound: await phases.attribute('outbound', o.quick ? 200 : 400, Math.min(150, Math.max(10, Math.floor(out.rate / 2)))),
      inbound: await phases.attribute('inbound', o.quick ? 200 : 400, Math.min(150, Math.max(10, Math.floor(inb.rate / 2)))),
    };

    await s.stopChild();
    let profile: BenchResult['profile'];
    if (o.profile) {
      const p = loadProfile(s.profileDir);
      if (p) profile = { outbound: sliceProfile(p, phases.windows.outbound), inbound: sliceProfile(p, phases.windows.inbound) };
      else log(`no CPU profile found in ${s.profileDir}`);
    }
    const warned = Object.fromEntries(warnings(s.logFile));
    await s.close();
    stack = undefined;

    let sessions: SessionsResult | undefined;
    if (o.sessions > 0) {
      log(`sessions: ${o.sessions} hub sessions held by a fresh Causeway process`);
      const s2 = (stack = await startStack({
        redisUrl: redis.url, prefix: `bench-${randomBytes(3).toString('hex')}`, dir, providerUsers: 0, hubUsers: 0,
        decryptSampleRate: o.decryptSampleRate, maxSessions: o.sessions + 100, cpuProfile: false,
      }));
      sessions = await holdSessions(s2, o.sessions, o.quick ? 60_000 : 180_000);
      for (const [m, k] of warnings(s2.logFile)) warned[m] = (warned[m] ?? 0) + k;
      await s2.close();
      stack = undefined;
    }

    let matrix: MatrixFigures | undefined;
    if (o.matrix > 0) {
      matrix = await matrixBench({
        redisUrl: redis.url, redisPid: redis.pid, quick: o.quick, samples: o.samples, messages: o.matrix, deadlineMs: o.deadlineMs, decryptSampleRate: o.decryptSampleRate, log,
      });
    }

    const partial: Omit<BenchResult, 'targets'> = {
      when: new Date().toISOString(),
      machine: { cpus: availableParallelism(), node: process.versions.node, redis: redisVersion, loadavgStart, loadavgEnd: loadavg() },
      run: { quick: o.quick, samples: o.samples, providers: o.providers, hubUsers: o.hubUsers, conversations: o.providers * o.hubUsers, eventsPerPost: o.eventsPerPost, devices: o.devices, pacedRate: o.pacedRate },
      layout: 'Causeway runs as a child process (causeway start --config, webhook adapter) with a core to itself; the mock hub, the load generator and the webhook receiver share the bench process (the other core); redis-server is a third process.',
      hubMode: {
        decryptSampleRate: o.decryptSampleRate, ...hubCheck,
        note: `the mock hub's simulated devices decrypt ${(o.decryptSampleRate * 100).toFixed(0)}% of the (hub device, provider device) sessions in full and only count the messages of the others (config simulation.decrypt_sample_rate), so that the hub does not eat the sidecar's CPU; inbound messages are encrypted by the hub ahead of the timed part.`,
      },
      ceilings: { libsignalEncrypt: ceiling(ls.encrypt), libsignalDecrypt: ceiling(ls.decrypt), bullmq: ceiling(bq), ciphertextBytes: ls.bytes },
      outbound: { ...out, ratio: out.rate / median(ls.encrypt) },
      ...(batched ? { outboundBatched: { ...batched, ratio: batched.rate / median(ls.encrypt), batch: o.batch } } : {}),
      inbound: { ...inb, ratio: inb.rate / median(ls.encrypt) },
      paced,
      light,
      redis: attribution,
      ...(sessions ? { sessions } : {}),
      ...(matrix ? { matrix } : {}),
      ...(profile ? { profile } : {}),
      warnings: warned,
    };
    const result: BenchResult = { ...partial, targets: judge(partial) };
    process.stdout.write(o.json ? `${JSON.stringify(result, null, 2)}\n` : formatText(result));
    return 0;
  } finally {
    await stopAll();
  }
}

process.exitCode = await main().catch((err: unknown) => {
  process.stderr.write(`[bench] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}${err instanceof Error && err.cause !== undefined ? `\n  cause: ${String((err.cause as Error).stack ?? err.cause)}` : ''}\n`);
  return 1;
});
