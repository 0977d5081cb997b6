// The hub under test. With HIP_HUB_URL (plus HIP_ADMIN_TOKEN, HIP_PROVIDER_ID, HIP_PROVIDER_JWK and
// optionally HIP_HUB_ID) the suite runs against that hub; otherwise it starts the embedded mock hub
// in-process on a free port, with provider 'birdy' (Ed25519 key generated here, static jwks, pushes
// to a local receiver) and provider 'haiket' for the "opted in for another provider" cases.
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { mockHubConfigSchema, type MockHubConfigInput } from '../../../../src/mock-hub/config.ts';
import { startMockHub } from '../../../../src/mock-hub/index.ts';
import { Control } from './control.ts';
import { startPushReceiver, type PushReceiver } from './push-receiver.ts';
import { generateProvider, importProvider, type ProviderCreds } from './tokens.ts';

type LimitsInput = NonNullable<MockHubConfigInput['limits']>;

export interface TargetOptions {
  /** Embedded mode only: limits for this hub (short timers keep the suite fast). */
  limits?: Partial<LimitsInput>;
  /** Embedded mode only: features announced as unsupported (spec 11). */
  unsupported?: string[];
}

export interface HubTarget {
  embedded: boolean;
  url: string;
  wsUrl: string;
  hubId: string;
  control: Control;
  /** The provider the suite's users belong to. */
  birdy: ProviderCreds;
  /** A second enrolled provider. */
  haiket: ProviderCreds;
  push: PushReceiver;
  /** What the suite can rely on about timers (the spec's values against an external hub). */
  limits: { redeliverAfterS: number; pingIntervalS: number; pingTimeoutS: number; idleTimeoutS: number; lowPrekeys: number; maxFrameBytes: number };
  close(): Promise<void>;
}

/** The spec's timers (sections 2, 5, 8). */
const SPEC_LIMITS = { redeliverAfterS: 60, pingIntervalS: 30, pingTimeoutS: 90, idleTimeoutS: 600, lowPrekeys: 10, maxFrameBytes: 256 * 1024 };

/** Default limits of the embedded hub: the spec's sizes and thresholds, short timers. */
const EMBEDDED_LIMITS: LimitsInput = { redeliver_after_s: 2, ping_interval_s: 30, ping_timeout_s: 90, idle_timeout_s: 600 };

export function isExternal(): boolean {
  return (process.env.HIP_HUB_URL ?? '') !== '';
}

export async function startTarget(opts: TargetOptions = {}): Promise<HubTarget> {
  return isExternal() ? externalTarget() : embeddedTarget(opts);
}

async function embeddedTarget(opts: TargetOptions): Promise<HubTarget> {
  const push = await startPushReceiver();
  const birdy = await generateProvider('birdy', 'BirdyChat');
  birdy.pushSecret = randomBytes(24).toString('base64url');
  const haiket = await generateProvider('haiket', 'Haiket');
  const adminToken = randomBytes(24).toString('base64url');
  const input: MockHubConfigInput = {
    listen: { host: '127.0.0.1', port: 0 },
    hub_id: 'hub',
    admin_token: adminToken,
    providers: [
      { id: birdy.id, name: birdy.name, jwks: { keys: [{ ...birdy.publicJwk }] }, push_url: push.url, push_secret: birdy.pushSecret },
      { id: haiket.id, name: haiket.name, jwks: { keys: [{ ...haiket.publicJwk }] } },
    ],
    limits: { ...EMBEDDED_LIMITS, ...opts.limits },
    ...(opts.unsupported === undefined ? {} : { features: { unsupported: opts.unsupported } }),
  };
  const config = mockHubConfigSchema.parse(input);
  const hub = await startMockHub(config, { logger: pino({ level: process.env.HIP_HUB_LOG ?? 'silent' }) });
  const l = config.limits;
  return {
    embedded: true,
    url: hub.url,
    wsUrl: hub.wsUrl,
    hubId: config.hub_id,
    control: new Control(hub.url, adminToken),
    birdy,
    haiket,
    push,
    limits: {
      redeliverAfterS: l.redeliver_after_s,
      pingIntervalS: l.ping_interval_s,
      pingTimeoutS: l.ping_timeout_s,
      idleTimeoutS: l.idle_timeout_s,
      lowPrekeys: l.low_prekeys,
      maxFrameBytes: l.max_frame_bytes,
    },
    async close() {
      await hub.close();
      await push.close();
    },
  };
}

async function externalTarget(): Promise<HubTarget> {
  const url = (process.env.HIP_HUB_URL ?? '').replace(/\/$/, '');
  const need = (name: string): string => {
    const v = process.env[name];
    if (v === undefined || v === '') throw new Error(`${name} must be set when HIP_HUB_URL is`);
    return v;
  };
  const control = new Control(url, need('HIP_ADMIN_TOKEN'));
  const birdy = await importProvider(need('HIP_PROVIDER_ID'), need('HIP_PROVIDER_JWK'));
  const push = await startPushReceiver(process.env.HIP_PUSH_HOST ?? '127.0.0.1');
  // A second provider, enrolled here; it also receives its pushes at this suite's receiver.
  const haiket = await generateProvider(`haiket-${randomBytes(3).toString('hex')}`, 'Haiket');
  haiket.pushSecret = randomBytes(24).toString('base64url');
  await control.enrolProvider({ id: haiket.id, name: haiket.name, jwks: { keys: [{ ...haiket.publicJwk }] }, push_url: push.url, push_secret: haiket.pushSecret });
  return {
    embedded: false,
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}/hip/v1/session`,
    hubId: process.env.HIP_HUB_ID ?? 'hub',
    control,
    birdy,
    haiket,
    push,
    limits: SPEC_LIMITS,
    async close() {
      await control.call('DELETE', `/control/providers/${haiket.id}`);
      await push.close();
    },
  };
}

/** The provider whose pushes reach this suite's receiver (spec 9). */
export function pushProvider(t: HubTarget): ProviderCreds {
  return t.birdy.pushSecret !== undefined ? t.birdy : t.haiket;
}
