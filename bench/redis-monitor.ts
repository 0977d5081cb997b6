// Attributes the sidecar's Redis traffic to its parts with MONITOR (used only in a short phase of
// its own: MONITOR slows Redis down). Every command is classified by its first key (the key
// layout of src/delivery, src/crypto, adapters/webhook and BullMQ), and counted separately as a
// round trip (sent by a client) or as a command run inside a Lua script (EVAL/EVALSHA, MULTI).
import { Redis } from 'ioredis';

export interface RedisAttribution {
  /**
   * Per part: round trips (a client command, or a whole MULTI … EXEC charged to the part of its
   * first command), commands run (all of them), and of those the ones run by Lua scripts.
   */
  parts: Array<{ part: string; roundTrips: number; commands: number; scripted: number }>;
  roundTrips: number;
  commands: number;
}

/** Which part of the sidecar a key belongs to (`prefix` is its redis.key_prefix). */
export function partOf(key: string, prefix: string): string {
  const k = key.startsWith(`${prefix}:`) ? key.slice(prefix.length + 1) : key;
  const rules: Array<[RegExp, string]> = [
    [/^bull:outbound:/, 'BullMQ outbound queue'],
    [/^bull:inbound:/, 'BullMQ inbound queue'],
    [/^webhook-events:/, 'webhook event store'],
    [/^out:\{/, 'outbox records'],
    [/^(lane:\{|lanes$)/, 'outbox lanes'],
    [/^lease:\{/, 'outbox lane leases'],
    [/^in-pending$/, 'inbound pending set'],
    [/^owner:\{/, 'hub session owners'],
    [/^idem:/, 'idempotency keys'],
    [/^status:/, 'status log'],
    [/^status-due$/, 'status reports due'],
    [/^rate:/, 'rate limit'],
    [/^sig:\{[^}]*\}:sessions$/, 'signal sessions'],
    [/^sig:\{[^}]*\}:identities$/, 'signal identities'],
    [/^sig:\{[^}]*\}:account$/, 'signal account'],
    [/^sig:\{[^}]*\}:(prekeys|kyber|spk|senderkeys)$/, 'signal prekeys'],
    [/^lock:/, 'peer lock'],
    [/^in:\{/, 'inbound records'],
    [/^interop$/, 'opt-in check'],
    [/^adapter-of$/, 'adapter-of lookup'],
    [/^devices:/, 'device lists'],
    [/^held:\{/, 'identity hold check'],
    [/^push-seen:/, 'push replay check'],
  ];
  for (const [re, part] of rules) if (re.test(k)) return part;
  return key.startsWith(`${prefix}:`) ? `other (${k.split(':')[0]})` : 'other';
}

/** The first key of a command as MONITOR shows it (args[0] is the command name). */
function firstKey(args: string[]): string | undefined {
  const cmd = (args[0] ?? '').toLowerCase();
  if (cmd === 'eval' || cmd === 'evalsha') return Number(args[2]) > 0 ? args[3] : undefined;
  if (['multi', 'exec', 'ping', 'info', 'script', 'client', 'select', 'config', 'hello', 'auth'].includes(cmd)) return undefined;
  return args[1];
}

interface Count { roundTrips: number; commands: number; scripted: number }

export class RedisMonitor {
  readonly #url: string;
  readonly #prefix: string;
  readonly #conns: Redis[] = [];
  readonly #counts = new Map<string, Count>();
  /** Client address → whether it is inside MULTI, and whether that block was charged yet. */
  readonly #multi = new Map<string, boolean>();

  constructor(url: string, prefix: string) {
    this.#url = url;
    this.#prefix = prefix;
  }

  #count(part: string): Count {
    let c = this.#counts.get(part);
    if (!c) this.#counts.set(part, (c = { roundTrips: 0, commands: 0, scripted: 0 }));
    return c;
  }

  async start(): Promise<void> {
    const base = new Redis(this.#url);
    this.#conns.push(base);
    const monitor = await base.monitor(); // a connection of its own, in monitor mode
    this.#conns.push(monitor);
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      const cmd = (args[0] ?? '').toLowerCase();
      if (source !== 'lua' && cmd === 'multi') return void this.#multi.set(source, false);
      if (source !== 'lua' && cmd === 'exec') return void this.#multi.delete(source);
      const key = firstKey(args);
      if (key === undefined) return;
      const c = this.#count(partOf(key, this.#prefix));
      c.commands++;
      if (source === 'lua') c.scripted++;
      else if (this.#multi.has(source)) {
        if (this.#multi.get(source) === false) {
          c.roundTrips++;
          this.#multi.set(source, true);
        }
      } else c.roundTrips++;
    });
  }

  stop(): RedisAttribution {
    for (const c of this.#conns) c.disconnect();
    this.#conns.length = 0;
    const parts = [...this.#counts].map(([part, c]) => ({ part, ...c })).sort((a, b) => b.roundTrips - a.roundTrips || b.commands - a.commands);
    return {
      parts,
      roundTrips: parts.reduce((n, p) => n + p.roundTrips, 0),
      commands: parts.reduce((n, p) => n + p.commands, 0),
    };
  }
}
