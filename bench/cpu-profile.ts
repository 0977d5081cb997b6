// Reads a V8 CPU profile (`node --cpu-prof`) of the Causeway child and says where its time went in
// a time window (a phase of the bench): each sample is charged to the innermost frame that is our
// code or a package (Node's own internals and native calls are charged to their caller), then
// summed by area (keyring, libsignal, ioredis, BullMQ, …) and by function. Pure: no IO but the read.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSlice {
  /** Milliseconds sampled in the windows, and of those not idle. */
  sampledMs: number;
  busyMs: number;
  /** What kind of work: busy ms by the innermost frame's area (socket I/O, ioredis, crypto…). */
  work: Share[];
  /** Which part of Causeway: busy ms by the outermost own-code frame (`fn file`), else the area. */
  parts: Share[];
  /** Busy ms by innermost own or package function. */
  functions: Share[];
}

export interface Share {
  name: string;
  ms: number;
  share: number;
}

const SPECIAL: Record<string, string> = {
  '(idle)': 'idle',
  '(garbage collector)': 'GC',
  '(program)': 'V8/native (program)',
  '(root)': 'V8/native (program)',
};

/** Native stream calls: each is (at least) one syscall. */
const SOCKET_NATIVES = new Set(['writeUtf8String', 'writeBuffer', 'writev', 'writeLatin1String', 'writeAsciiString', 'writeUcs2String', 'readStart', 'readStop', 'shutdown', 'close']);

/** Which part of the stack a frame belongs to; undefined: charge its caller. */
export function areaOf(f: CallFrame): string | undefined {
  const url = f.url;
  if (url === '') return SOCKET_NATIVES.has(f.functionName) ? 'socket I/O (syscalls)' : undefined;
  if (url.startsWith('node:internal/crypto') || url === 'node:crypto') return 'node:crypto (AES-GCM, HMAC, SHA, random)';
  if (url.startsWith('node:internal/deps/undici')) return 'undici (webhook POSTs)';
  if (url.startsWith('node:_http') || url === 'node:http') return 'node:http';
  if (url.startsWith('node:')) return undefined;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];
  if (pkg !== undefined) {
    if (pkg === '@signalapp/libsignal-client') return 'libsignal';
    if (['ioredis', 'redis-parser', 'denque', 'cluster-key-slot', 'standard-as-callback', 'redis-errors', '@ioredis/commands'].includes(pkg)) return 'ioredis';
    if (['bullmq', 'msgpackr', 'cron-parser', 'uuid', 'tslib'].includes(pkg)) return 'bullmq';
    if (pkg === 'hono' || pkg === '@hono/node-server') return 'hono (HTTP API)';
    if (pkg === 'ws') return 'ws (hub WebSocket)';
    if (['fast-xml-parser', 'strnum', '@nodable/entities', 'path-expression-matcher'].includes(pkg)) return 'fast-xml-parser';
    if (['pino', 'sonic-boom', 'thread-stream', 'fast-redact', 'quick-format-unescaped', 'atomic-sleep'].includes(pkg)) return 'pino (logging)';
    return pkg;
  }
  const own = /\/(src\/[^/]+|adapters\/[^/]+|bin)\/?([^/]*)$/.exec(url);
  if (own) {
    const [, dir, file] = own;
    if (dir === 'src/crypto') return file === 'keyring.ts' ? 'keyring (seal/open)' : file === 'peer-lock.ts' ? 'peer lock' : 'signal stores (crypto/)';
    if (dir === 'src/protocol') return 'protocol codec';
    return dir === 'src' ? `src/${file}` : (dir as string);
  }
  return 'other';
}

const isOwn = (url: string): boolean => /\/(src|adapters)\//.test(url) && !url.includes('node_modules');

export function loadProfile(dir: string): CpuProfile | undefined {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  } catch {
    return undefined;
  }
  const f = files.sort().at(-1);
  return f === undefined ? undefined : (JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile);
}

interface Charge { work: string; part: string; fn: string }

/** Where the time of the samples inside `windows` ([from, to] in monotonic µs, the profile's clock) went. */
export function sliceProfile(p: CpuProfile, windows: Array<[number, number]>, top = 15): ProfileSlice {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const charges = new Map<number, Charge>();
  const chargeOf = (id: number): Charge => {
    const known = charges.get(id);
    if (known) return known;
    const n = byId.get(id) as ProfileNode;
    const special = SPECIAL[n.callFrame.functionName];
    let c: Charge;
    if (special !== undefined && n.callFrame.url === '') c = { work: special, part: special, fn: n.callFrame.functionName };
    else {
      let at: ProfileNode | undefined = n;
      while (at && areaOf(at.callFrame) === undefined) at = byId.get(parent.get(at.id) ?? -1);
      const work = at ? (areaOf(at.callFrame) as string) : 'node core (streams, timers, promises)';
      let outer: ProfileNode | undefined;
      for (let x: ProfileNode | undefined = n; x; x = byId.get(parent.get(x.id) ?? -1)) if (isOwn(x.callFrame.url)) outer = x;
      c = { work, part: outer ? label(outer.callFrame) : `(no own frame) ${work}`, fn: at ? label(at.callFrame) : label(n.callFrame) };
    }
    charges.set(id, c);
    return c;
  };
  const sums = { work: new Map<string, number>(), part: new Map<string, number>(), fn: new Map<string, number>() };
  const add = (m: Map<string, number>, k: string, us: number): void => void m.set(k, (m.get(k) ?? 0) + us);
  let t = p.startTime;
  let sampled = 0;
  let idle = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    if (!windows.some(([a, b]) => t >= a && t <= b)) continue;
    const us = p.timeDeltas[i + 1] ?? dt; // a sample stands for the time until the next one
    sampled += us;
    const c = chargeOf(p.samples[i] as number);
    if (c.work === 'idle') {
      idle += us;
      continue;
    }
    add(sums.work, c.work, us);
    add(sums.part, c.part, us);
    add(sums.fn, c.fn, us);
  }
  const busy = sampled - idle;
  const list = (m: Map<string, number>, n: number): Share[] =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, us]) => ({ name, ms: us / 1000, share: busy > 0 ? us / busy : 0 }));
  return { sampledMs: sampled / 1000, busyMs: busy / 1000, work: list(sums.work, top), parts: list(sums.part, top), functions: list(sums.fn, top) };
}

function label(f: CallFrame): string {
  return `${f.functionName || '(anonymous)'} ${short(f.url)}:${f.lineNumber + 1}`;
}

function short(url: string): string {
  const m = /node_modules\/(.*)$/.exec(url) ?? /\/((?:src|adapters|bin)\/.*)$/.exec(url);
  return m ? (m[1] as string) : url.replace(/^file:\/\//, '');
}
