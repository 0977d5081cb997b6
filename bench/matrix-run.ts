// The Matrix path alone, without the rest of `npm run bench` (which runs it last): its own
// redis-server, the same `matrixBench` call and the same lines of output.
//   node bench/matrix-run.ts [--quick] [--samples N] [--matrix N] [--json] [--profile] [--statuses failures|all]
// `--statuses` sets the connector's `send_statuses` (default: the option's default); the output names it.
// `--profile` also writes a CPU profile of this process over the timed samples to the temp directory.
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SEND_STATUSES, type SendStatuses } from '../adapters/matrix/status-coalesce.ts';
import { matrixBench } from './matrix.ts';
import { matrixLines, matrixTarget } from './matrix-report.ts';
import { startRedis } from './redis-server.ts';

const log = (m: string): void => void process.stderr.write(`[bench] ${m}\n`);

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, profile: { type: 'boolean', default: false },
      samples: { type: 'string' }, matrix: { type: 'string' }, statuses: { type: 'string' },
    },
    strict: true,
  });
  const quick = values.quick === true;
  const int = (v: string | undefined, d: number, max: number, name: string): number => {
    const n = v === undefined ? d : Number(v);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--${name} must be an integer from 1 to ${max}`);
    return n;
  };
  const samples = int(values.samples, quick ? 1 : 3, 20, 'samples');
  const messages = int(values.matrix, quick ? 1000 : 2000, 20_000, 'matrix');
  const statuses = values.statuses;
  if (statuses !== undefined && !(SEND_STATUSES as readonly string[]).includes(statuses)) throw new Error(`--statuses must be one of ${SEND_STATUSES.join(', ')}`);
  const redis = await startRedis();
  const session = values.profile ? new Session() : undefined;
  try {
    const beforeSamples = async (): Promise<void> => {
      if (!session) return;
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
    };
    const m = await matrixBench({ redisUrl: redis.url, redisPid: redis.pid, quick, samples, messages, deadlineMs: quick ? 60_000 : 120_000, decryptSampleRate: 0.1, log, beforeSamples, ...(statuses ? { sendStatuses: statuses as SendStatuses } : {}) });
    if (session) {
      const { profile } = await session.post('Profiler.stop');
      const file = join(tmpdir(), `matrix-bench-${process.pid}.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      log(`CPU profile: ${file}`);
    }
    const t = matrixTarget(m);
    process.stdout.write(values.json ? `${JSON.stringify(m, null, 2)}\n` : `${[...matrixLines(m), `${t.name}: ${t.met ? 'met' : 'not met'} (${t.detail})`].join('\n')}\n`);
    return 0;
  } finally {
    session?.disconnect();
    await redis.stop();
  }
}

process.exitCode = await main().catch((err: unknown) => {
  process.stderr.write(`[bench] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}${err instanceof Error && err.cause !== undefined ? `\n  cause: ${String((err.cause as Error).stack ?? err.cause)}` : ''}\n`);
  return 1;
});
