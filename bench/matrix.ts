// The Matrix path of `npm run bench`: encrypted Matrix events in (appservice transactions of up to
// TXN_EVENTS events, handed over one at a time and in order as a homeserver sends them) → the hub
// device's inbox, printed beside the raw Megolm decrypt rate of matrix-sdk-crypto-wasm
// (`OlmMachine.decryptRoomEvent`, one event at a time on this thread) measured in the same run.
// Both run on the bench thread. The events are encrypted ahead of the timed part (as the inbound
// path's hub messages are). The time inside the adapter is split by wrapping the bridge device's
// decrypt and the core's submit / submitMany (wall time spent inside each, per message).
import { Bridge } from '../adapters/matrix/bridge.ts';
import { BridgeDevice } from '../adapters/matrix/bridge-device.ts';
import { SEND_STATUS as SEND_STATUS_TYPE } from '../adapters/matrix/send-status.ts';
import { DEFAULT_SEND_STATUSES, SENT_HOLD_MS, type SendStatuses } from '../adapters/matrix/status-coalesce.ts';
import type { CoreApi } from '../adapters/contract.ts';
import { BENCH_TEXT, libsignalCeiling } from './ceilings.ts';
import { cpuSeconds, median, spread, waitFor } from './measure.ts';
import { BenchMatrixDevice, ROTATE_AFTER } from './matrix-sender.ts';
import { startMatrixStack, type MatrixStack } from './matrix-stack.ts';

/** Events per transaction (Synapse sends at most 100 events per appservice transaction). */
export const TXN_EVENTS = 50;

export interface MatrixFigures {
  /** Raw Megolm decrypt, msg/s per sample (receiver with the library's in-memory store). */
  ceiling: { samples: number[]; median: number; spread: number; usPerMsg: number };
  /** The same with the receiver's store on fake-indexeddb, as the bridge's devices have it (for reference). */
  ceilingIdb: { median: number; usPerMsg: number };
  /** Raw libsignal encrypt on this thread (steady session, in-memory stores), measured beside the Megolm ceiling. */
  signalEncrypt: { median: number; usPerMsg: number };
  /**
   * What one thread can do at most if it did nothing but the two cryptographic steps every
   * bridged message needs (the Megolm decrypt at its raw rate, one libsignal encrypt): no Redis,
   * no sealing at rest, no hub, no HTTP. The path runs on one thread here, as the ceiling does.
   */
  cryptoBound: { rate: number; ratio: number };
  /** Matrix event in → hub device out. */
  path: {
    samples: Array<{ messages: number; rate: number; ingestRate: number; complete: boolean; cpuUsPerMsg: { bench: number; redis: number } }>;
    rate: number;
    spread: number;
    /** Transactions handled (decrypted and accepted into the core's durable outbox), msg/s. */
    ingestRate: number;
    /**
     * Wall time per message: of the transaction handler, and summed over the calls inside it
     * (decrypt, core.submit, device-state flushes, send statuses' included) — those calls overlap
     * (several rooms at once), so their sums exceed the handler's time.
     */
    split: { handlerUs: number; decryptUs: number; submitUs: number; persistUs: number };
    cpuUsPerMsg: { bench: number; redis: number };
  };
  ratio: number;
  portals: number;
  txnEvents: number;
  /** The connector's `send_statuses` in this run, and whether it is the default. */
  sendStatuses: { setting: SendStatuses; isDefault: boolean };
}

export interface MatrixBenchOptions {
  redisUrl: string;
  redisPid: number;
  quick: boolean;
  samples: number;
  /** Messages per path sample. */
  messages: number;
  deadlineMs: number;
  decryptSampleRate: number;
  log: (m: string) => void;
  /** The connector's `send_statuses` option; its default when absent (`npm run bench`). */
  sendStatuses?: SendStatuses;
  /** Called after the warm-up, before the timed samples (matrix-run.ts starts its CPU profile there). */
  beforeSamples?: () => Promise<void>;
}

/** Raw Megolm decrypt on this thread: a receiver device with the room key, events in order. */
async function megolmCeiling(s: MatrixStack, samples: number, perSample: number, store?: string): Promise<number[]> {
  const tag = store === undefined ? 'mem' : 'idb';
  const tx = await BenchMatrixDevice.create(s.hs, `ceiling-tx-${tag}`);
  const rx = await BenchMatrixDevice.create(s.hs, `ceiling-rx-${tag}`, store);
  const room = `!ceiling-${tag}:bench.example`;
  await tx.shareRoomKey(room, [rx.userId]);
  await rx.receiveToDevice(rx.takeToDevice());
  const out: number[] = [];
  let n = 0;
  for (let k = -1; k < samples; k++) {
    if (tx.sentIn(room) + perSample > ROTATE_AFTER) {
      await tx.rekey(room, [rx.userId]);
      await rx.receiveToDevice(rx.takeToDevice());
    }
    const events = [];
    for (let i = 0; i < (k < 0 ? 200 : perSample); i++) events.push(await tx.encryptedEvent(room, n++, BENCH_TEXT));
    const t0 = performance.now();
    for (const e of events) await rx.decrypt(room, e);
    if (k >= 0) out.push(events.length / ((performance.now() - t0) / 1000)); // sample -1 warms up
  }
  return out;
}

/**
 * At most how many messages per second one thread can bridge when each costs a Megolm decrypt at
 * `megolm` msg/s and a libsignal encrypt at `signal` msg/s and nothing else, and that as a share
 * of the Megolm rate: signal / (megolm + signal).
 */
export function cryptoBound(megolm: number, signal: number): { rate: number; ratio: number } {
  const rate = 1 / (1 / megolm + 1 / signal);
  return { rate, ratio: rate / megolm };
}

export async function matrixBench(o: MatrixBenchOptions): Promise<MatrixFigures> {
  const matrixUsers = o.quick ? 4 : 8;
  const hubUsers = o.quick ? 4 : 8;
  o.log(`matrix: starting the in-process stack (${matrixUsers} Matrix users × ${hubUsers} hub users = ${matrixUsers * hubUsers} encrypted portals)`);
  const s = await startMatrixStack({ redisUrl: o.redisUrl, matrixUsers, hubUsers, decryptSampleRate: o.decryptSampleRate, ...(o.sendStatuses ? { sendStatuses: o.sendStatuses } : {}) });
  const setting = s.connector.bridge.config.send_statuses;
  const unwrap: Array<() => void> = [];
  try {
    o.log('matrix: ceiling: matrix-sdk-crypto-wasm decryptRoomEvent on this thread');
    const ceiling = await megolmCeiling(s, o.quick ? 3 : 5, o.quick ? 1000 : 2000);
    const ceilingIdb = median(await megolmCeiling(s, 1, o.quick ? 500 : 1000, `bench-ceiling-${process.pid}`));
    o.log('matrix: libsignal encrypt on this thread (beside the Megolm ceiling)');
    const signalEncrypt = median((await libsignalCeiling(o.quick ? 3 : 5, o.quick ? 500 : 1000)).encrypt);

    let arrived = 0;
    let lastArrival = 0;
    unwrap.push(s.hub.core.sim.onInbox(() => {
      arrived++;
      lastArrival = performance.now();
    }));
    // Send-status events the puppets posted (encrypted into the portals at the homeserver).
    let statusPosts = 0;
    let lastStatusPost = 0;
    const statusEvent = Bridge.prototype.sendToPortal;
    Bridge.prototype.sendToPortal = async function counted(this: Bridge, ...a: Parameters<typeof statusEvent>) {
      const r = await statusEvent.apply(this, a);
      if (a[1] === SEND_STATUS_TYPE) {
        statusPosts++;
        lastStatusPost = performance.now();
      }
      return r;
    };
    unwrap.push(() => void (Bridge.prototype.sendToPortal = statusEvent));
    // Time inside the adapter's two expensive calls.
    const inside = { decrypt: 0, submit: 0, persist: 0 };
    const decrypt = BridgeDevice.prototype.decrypt;
    BridgeDevice.prototype.decrypt = async function timed(this: BridgeDevice, ...a: Parameters<typeof decrypt>) {
      const t = performance.now();
      try {
        return await decrypt.apply(this, a);
      } finally {
        inside.decrypt += performance.now() - t;
      }
    };
    unwrap.push(() => void (BridgeDevice.prototype.decrypt = decrypt));
    const persist = BridgeDevice.prototype.persist;
    BridgeDevice.prototype.persist = async function timed(this: BridgeDevice) {
      const t = performance.now();
      try {
        return await persist.apply(this);
      } finally {
        inside.persist += performance.now() - t;
      }
    };
    unwrap.push(() => void (BridgeDevice.prototype.persist = persist));
    const core = s.connector.bridge.core as CoreApi;
    s.connector.bridge.core = new Proxy(core, {
      get(target, p) {
        const v = Reflect.get(target, p) as unknown;
        if ((p === 'submit' || p === 'submitMany') && typeof v === 'function') {
          return async (...a: unknown[]) => {
            const t = performance.now();
            try {
              return (await (v as (...x: unknown[]) => Promise<unknown>).apply(target, a)) as never;
            } finally {
              inside.submit += performance.now() - t;
            }
          };
        }
        return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(target) : v;
      },
    });
    unwrap.push(() => void (s.connector.bridge.core = core));

    type Sample = MatrixFigures['path']['samples'][number] & { ingestMs: number; decryptMs: number; submitMs: number; persistMs: number };
    let seq = 0;
    const run = async (count: number): Promise<Sample> => {
      // New room keys (untimed) where this sample would pass the library's cap on one session.
      const perPortal = Math.ceil(count / s.portals.length);
      let rekeyed = false;
      for (const p of s.portals) {
        if (p.sender.sentIn(p.roomId) + perPortal <= ROTATE_AFTER) continue;
        await p.sender.rekey(p.roomId, [p.sender.userId, p.puppet]);
        rekeyed = true;
      }
      if (rekeyed) await s.deliverRoomKeys();
      const events = [];
      for (let i = 0; i < count; i++) {
        const p = s.portals[i % s.portals.length] as (typeof s.portals)[number];
        events.push(await p.sender.encryptedEvent(p.roomId, seq++, `${BENCH_TEXT} #${seq}`));
      }
      const txns = [];
      for (let i = 0; i < events.length; i += TXN_EVENTS) txns.push({ events: events.slice(i, i + TXN_EVENTS) });
      const start = arrived;
      const statuses0 = statusPosts;
      inside.decrypt = 0;
      inside.submit = 0;
      inside.persist = 0;
      const cpu0 = process.cpuUsage();
      const redis0 = cpuSeconds(o.redisPid);
      const t0 = performance.now();
      for (const t of txns) await s.connector.handleTransaction(t);
      const ingestMs = performance.now() - t0;
      const complete = await waitFor(() => arrived - start >= count, o.deadlineMs, 20);
      const got = arrived - start;
      // With send_statuses `all` (the default) each message's SUCCESS event is posted after it
      // waited SENT_HOLD_MS for a delivery receipt (the bench's hub users send none): the sample
      // ends once those are posted too, so their CPU is in the figures, and the window ends at the
      // last post less that idle wait (the time the work would have ended without it).
      let end = lastArrival;
      if (setting === 'all') {
        await waitFor(() => statusPosts - statuses0 >= got, o.deadlineMs, 5);
        end = Math.max(end, lastStatusPost - SENT_HOLD_MS);
      }
      const cpu = process.cpuUsage(cpu0);
      const ms = Math.max(1, end - t0);
      return {
        messages: count, rate: got / (ms / 1000), ingestRate: count / (ingestMs / 1000), complete,
        cpuUsPerMsg: { bench: (cpu.user + cpu.system) / Math.max(1, got), redis: ((cpuSeconds(o.redisPid) - redis0) * 1e6) / Math.max(1, got) },
        ingestMs, decryptMs: inside.decrypt, submitMs: inside.submit, persistMs: inside.persist,
      };
    };
    o.log(`matrix: warm-up: one message per portal (Signal sessions to the hub devices)`);
    await run(s.portals.length);
    await o.beforeSamples?.();
    const samples: Sample[] = [];
    for (let k = 0; k < o.samples; k++) {
      o.log(`matrix: path sample ${k + 1}/${o.samples}: ${o.messages} encrypted events in transactions of ${TXN_EVENTS}`);
      samples.push(await run(o.messages));
    }
    const med = (f: (x: (typeof samples)[number]) => number): number => median(samples.map(f));
    const rate = med((x) => x.rate);
    const ceilingMedian = median(ceiling);
    const perMsg = (f: (x: (typeof samples)[number]) => number): number => med((x) => (f(x) * 1000) / x.messages);
    return {
      ceiling: { samples: ceiling, median: ceilingMedian, spread: spread(ceiling), usPerMsg: 1e6 / ceilingMedian },
      ceilingIdb: { median: ceilingIdb, usPerMsg: 1e6 / ceilingIdb },
      signalEncrypt: { median: signalEncrypt, usPerMsg: 1e6 / signalEncrypt },
      cryptoBound: cryptoBound(ceilingMedian, signalEncrypt),
      path: {
        samples: samples.map(({ ingestMs: _i, decryptMs: _d, submitMs: _s, persistMs: _p, ...x }) => x),
        rate, spread: spread(samples.map((x) => x.rate)), ingestRate: med((x) => x.ingestRate),
        split: { handlerUs: perMsg((x) => x.ingestMs), decryptUs: perMsg((x) => x.decryptMs), submitUs: perMsg((x) => x.submitMs), persistUs: perMsg((x) => x.persistMs) },
        cpuUsPerMsg: { bench: med((x) => x.cpuUsPerMsg.bench), redis: med((x) => x.cpuUsPerMsg.redis) },
      },
      ratio: rate / ceilingMedian,
      portals: s.portals.length,
      txnEvents: TXN_EVENTS,
      sendStatuses: { setting, isDefault: setting === DEFAULT_SEND_STATUSES },
    };
  } finally {
    for (const u of unwrap.reverse()) u();
    await s.close();
  }
}
