// Command line of `npm run bench`: the run's size (full or --quick), samples, sizes of the stack,
// and what to print. Every figure the bench takes is bounded in count and in time by these.
import { parseArgs } from 'node:util';

export interface BenchOptions {
  quick: boolean;
  json: boolean;
  profile: boolean;
  samples: number;
  sessions: number;
  providers: number;
  hubUsers: number;
  decryptSampleRate: number;
  /** Target seconds of one throughput sample (its message count follows from the last rate). */
  sampleSeconds: number;
  /** Seconds of one paced-latency sample. */
  pacedSeconds: number;
  /** Paced rate aimed at (the target's 1,000 msg/s), lowered to what the path sustains. */
  pacedRate: number;
  /** Upper bound of any one wait (a path that stalls ends the sample as incomplete). */
  deadlineMs: number;
  /** Encrypted Matrix events per sample of the Matrix path (bench/matrix.ts); 0 skips it. */
  matrix: number;
  /** Messages per POST /v1/messages/batch of the batched outbound line; 0 skips it. */
  batch: number;
  /** The webhook adapter's max_events_per_post for the whole run (1, the default: one event per POST). */
  eventsPerPost: number;
  /** Devices per simulated hub user (1: the regime of the libsignal ceiling). */
  devices: number;
}

export const USAGE = `npm run bench -- [--quick] [--json] [--profile] [--samples N] [--sessions N]
                  [--providers N] [--hub-users N] [--decrypt-sample-rate R] [--matrix N] [--batch N]
                  [--events-per-post N] [--devices N] [--paced-rate N]

  --quick                 about 30 s: one sample each, smaller runs, 2,000 sessions
  --json                  the results as JSON on stdout (progress stays on stderr)
  --profile               CPU-profile the Causeway child and print where its time went
  --samples N             samples per figure (default 3; medians are reported)
  --sessions N            hub sessions held by one Causeway process (default 10,000)
  --providers N           provider users (default 32) — conversations are providers × hub users
  --hub-users N           simulated hub users, one device each (default 32)
  --decrypt-sample-rate R share of hub-device sessions the mock hub decrypts in full (default 0.1)
  --matrix N              encrypted Matrix events per sample of the Matrix path (default 2,000;
                          quick 1,000); 0 skips the Matrix path
  --batch N               messages per POST /v1/messages/batch of the batched outbound line
                          (default 50; at most 100, the adapter's default limit); 0 skips it
  --events-per-post N     the webhook adapter's max_events_per_post for the whole run (default 1,
                          as in production by default: one event per POST; at most 100)
  --devices N             devices per simulated hub user (default 1; at most 5): every outbound
                          message is encrypted for each; its arrival is the first device's
  --paced-rate N          open-loop rate of the paced latency samples (default 1,000, the target's);
                          lowered to 80% of the measured throughput when the path does not sustain it
`;

export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      samples: { type: 'string' },
      sessions: { type: 'string' },
      providers: { type: 'string' },
      'hub-users': { type: 'string' },
      'decrypt-sample-rate': { type: 'string' },
      matrix: { type: 'string' },
      batch: { type: 'string' },
      'events-per-post': { type: 'string' },
      devices: { type: 'string' },
      'paced-rate': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const quick = values.quick === true;
  const int = (v: string | undefined, dflt: number, min: number, max: number, name: string): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}`);
    return n;
  };
  const rate = values['decrypt-sample-rate'] === undefined ? 0.1 : Number(values['decrypt-sample-rate']);
  if (!(rate >= 0 && rate <= 1)) throw new Error('--decrypt-sample-rate must be from 0 to 1');
  return {
    quick,
    json: values.json === true,
    profile: values.profile === true,
    samples: int(values.samples, quick ? 1 : 3, 1, 20, 'samples'),
    sessions: int(values.sessions, quick ? 2000 : 10_000, 0, 18_000, 'sessions'),
    providers: int(values.providers, quick ? 16 : 32, 1, 500, 'providers'),
    hubUsers: int(values['hub-users'], quick ? 16 : 32, 1, 500, 'hub-users'),
    decryptSampleRate: rate,
    sampleSeconds: quick ? 4 : 8,
    pacedSeconds: quick ? 4 : 8,
    pacedRate: int(values['paced-rate'], 1000, 10, 100_000, 'paced-rate'),
    deadlineMs: quick ? 60_000 : 120_000,
    matrix: int(values.matrix, quick ? 1000 : 2000, 0, 20_000, 'matrix'),
    batch: int(values.batch, 50, 0, 100, 'batch'),
    eventsPerPost: int(values['events-per-post'], 1, 1, 100, 'events-per-post'),
    devices: int(values.devices, 1, 1, 5, 'devices'),
  };
}
