// The store of what the hub carries (src/hub/features.ts) on a real Redis: asked when a session
// opens and the stored answer is absent or stale (one ask at a time), kept as one JSON value, 406s
// added to it, replicas' writes merged on a race, read per message from memory (no Redis call per
// message), and a failed ask leaving the spec's defaults.
import pino from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { Redis } from 'ioredis';
import { HubIqError, HubSessionError, type HubConnection } from '../../src/hub/connection.ts';
import { FEATURES_MAX_AGE_MS, FEATURES_REFRESH_MS, HubFeaturesStore } from '../../src/hub/features.ts';
import { carries, featuresFromAnswer, mediaLimit, SPEC_FEATURES, withLimits, type HubFeatures } from '../../src/policy/index.ts';
import type { IqQuery, IqResultPayload } from '../../src/protocol/index.ts';
import { recordingRedis, testRedis } from '../support/redis.ts';

const { redis, prefix: base, cleanup } = testRedis();
const recording = recordingRedis();
afterAll(async () => {
  recording.redis.disconnect();
  await cleanup();
});

const logger = pino({ level: 'silent' });
const LIMITS = { image: 10_000_000, video: 64 * 1024 * 1024 };
const ANSWER = { op: 'features' as const, kinds: [{ name: 'text' }, { name: 'image', maxSize: 8_000_000 }, { name: 'document' }], unsupported: ['video', 'sticker'] };
let n = 0;

/** A clock the test moves. */
function clock(start = 1_000_000): { now: () => number; t: number } {
  const c = { t: start, now: () => c.t };
  return c;
}

/** A session whose `features` iq answers `answer` (or fails with it), counting the asks. */
function session(answer: IqResultPayload | Error = ANSWER): { conn: HubConnection; asks: IqQuery[]; release: () => void } {
  const asks: IqQuery[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const conn = {
    iq: vi.fn(async (q: IqQuery) => {
      asks.push(q);
      await gate;
      if (answer instanceof Error) throw answer;
      return answer;
    }),
  } as unknown as HubConnection;
  return { conn, asks, release };
}

function store(o: { prefix: string; now: () => number; redis?: Redis }): HubFeaturesStore {
  return new HubFeaturesStore({ redis: o.redis ?? redis, prefix: o.prefix, limits: LIMITS, logger, now: o.now });
}

const read = async (prefix: string): Promise<HubFeatures | undefined> => {
  const raw = await redis.get(`${prefix}:hub-features`);
  return raw === null ? undefined : (JSON.parse(raw) as HubFeatures);
};

describe('hub features store', () => {
  it('asks once when a session opens and nothing is stored, and keeps withLimits(featuresFromAnswer(answer)) in Redis and in memory', async () => {
    const prefix = `${base}-${n++}`;
    const c = clock();
    const s = store({ prefix, now: c.now });
    const { conn, asks, release } = session();
    s.opened(conn);
    s.opened(conn); // a second session opening while the first ask is in flight
    release();
    await s.asking;
    expect(asks).toEqual([{ xmlns: 'features', op: 'features' }]);
    expect(await read(prefix)).toEqual(withLimits(featuresFromAnswer(ANSWER, c.t), LIMITS));
    const v = await s.view();
    expect(carries(v, 'video')).toBe(false);
    expect(mediaLimit(v, 'image')).toBe(8_000_000);
    expect(mediaLimit(v, 'audio')).toBe(16 * 1024 * 1024);
  });

  it('does not ask while the stored answer is fresh (another replica asked), and asks again once it is stale', async () => {
    const prefix = `${base}-${n++}`;
    const c = clock();
    await redis.set(`${prefix}:hub-features`, JSON.stringify(featuresFromAnswer({ kinds: [{ name: 'text' }], unsupported: ['voice'] }, c.t - 1000)));
    const s = store({ prefix, now: c.now });
    const first = session();
    first.release();
    s.opened(first.conn);
    await s.asking;
    expect(first.asks).toHaveLength(0);
    expect(carries(await s.view(), 'voice')).toBe(false);

    c.t += FEATURES_MAX_AGE_MS;
    const second = session();
    second.release();
    s.opened(second.conn);
    await s.asking;
    expect(second.asks).toHaveLength(1);
    const f = await read(prefix);
    expect(f?.learnedAt).toBe(c.t);
    expect(f?.unsupported).toEqual(['video', 'sticker']);
    expect(carries(await s.view(), 'voice')).toBe(true);
  });

  it('a 406 is added to the stored value and to memory at once', async () => {
    const prefix = `${base}-${n++}`;
    const c = clock();
    const s = store({ prefix, now: c.now });
    const v = await s.refused('voice');
    expect(carries(v, 'voice')).toBe(false);
    expect((await read(prefix))?.refused).toEqual({ voice: c.t });
    // The value holds no answer: the next session opening asks, and a 406 from before the answer is
    // replaced by it (spec 11 answer newer than the refusal).
    const { conn, release } = session();
    release();
    c.t += 1;
    s.opened(conn);
    await s.asking;
    expect((await read(prefix))?.refused).toEqual({});
    expect(carries(await s.view(), 'voice')).toBe(true);
  });

  it('two replicas writing at once are merged, not overwritten (compare-and-set)', async () => {
    const prefix = `${base}-${n++}`;
    const c = clock();
    const a = store({ prefix, now: c.now });
    await a.refused('voice');
    // Replica b reads the value, then replica a writes before b's write: b's write is refused and
    // retried on what a wrote.
    const own = recordingRedis().redis;
    const get = own.get.bind(own);
    let raced = false;
    own.get = (async (key: string) => {
      const v = await get(key);
      if (!raced) {
        raced = true;
        c.t += 5;
        await a.refused('audio');
      }
      return v;
    }) as Redis['get'];
    try {
      const b = store({ prefix, now: c.now, redis: own });
      c.t += 5;
      await b.refused('image');
      expect(raced).toBe(true);
      expect(Object.keys((await read(prefix))?.refused ?? {}).sort()).toEqual(['audio', 'image', 'voice']);
      // A's memory learns b's refusal on its next read from Redis.
      c.t += FEATURES_REFRESH_MS;
      await a.view();
      await vi.waitFor(async () => expect(carries(await a.view(), 'image')).toBe(false));
    } finally {
      own.disconnect();
    }
  });

  it('an answer racing another replica’s 406 keeps the 406 learned after the answer', async () => {
    const prefix = `${base}-${n++}`;
    const c = clock();
    const asker = store({ prefix, now: c.now });
    const other = store({ prefix, now: c.now });
    const { conn, release } = session({ ...ANSWER, unsupported: [] });
    asker.opened(conn);
    await vi.waitFor(() => expect((conn.iq as ReturnType<typeof vi.fn>).mock.calls).toHaveLength(1));
    // The answer is learned at t+10; the other replica's 406 on image came at t+20, later.
    c.t += 20;
    await other.refused('image');
    c.t -= 10;
    release();
    await asker.asking;
    const f = await read(prefix);
    expect(f).toMatchObject({ source: 'hub', learnedAt: c.t, refused: { image: c.t + 10 } });
  });

  it('reads Redis at most once per refresh period, not once per message', async () => {
    const prefix = `${base}-${n++}`;
    const c = clock();
    await redis.set(`${prefix}:hub-features`, JSON.stringify(featuresFromAnswer(ANSWER, c.t)));
    const s = store({ prefix, now: c.now, redis: recording.redis });
    await recording.redis.ping(); // the connection's own set-up commands are sent by now
    const from = recording.sent.length;
    const sent = (): string[] => recording.sent.slice(from);
    const views = await Promise.all(Array.from({ length: 50 }, () => s.view()));
    for (let i = 0; i < 50; i++) await s.view();
    expect(views.every((v) => !carries(v, 'video'))).toBe(true);
    expect(sent()).toEqual(['get']);

    c.t += FEATURES_REFRESH_MS;
    for (let i = 0; i < 50; i++) await s.view();
    await vi.waitFor(() => expect(sent()).toEqual(['get', 'get']));
  });

  it('a features iq that errors leaves the spec defaults, stores nothing, and is not repeated at once', async () => {
    const prefix = `${base}-${n++}`;
    const c = clock();
    const s = store({ prefix, now: c.now });
    const failing = session(new HubIqError(503, 'unavailable'));
    failing.release();
    s.opened(failing.conn);
    await s.asking;
    expect(failing.asks).toHaveLength(1);
    expect(await s.view()).toEqual(withLimits(SPEC_FEATURES, LIMITS));
    expect(await read(prefix)).toBeUndefined();
    s.opened(failing.conn);
    expect(s.asking).toBeUndefined();
    expect(failing.asks).toHaveLength(1);

    // A minute later the next session opening asks again.
    c.t += 60_000;
    const ok = session();
    ok.release();
    s.opened(ok.conn);
    await s.asking;
    expect(ok.asks).toHaveLength(1);
    expect(carries(await s.view(), 'video')).toBe(false);
  });

  it('a session that closed under the ask does not hold the next session back', async () => {
    const prefix = `${base}-${n++}`;
    const c = clock();
    const s = store({ prefix, now: c.now });
    const closed = session(new HubSessionError('session closed (1000)', 'closed', 1000));
    closed.release();
    s.opened(closed.conn);
    await s.asking;
    expect(await s.view()).toEqual(withLimits(SPEC_FEATURES, LIMITS));
    const ok = session();
    ok.release();
    s.opened(ok.conn);
    await s.asking;
    expect(ok.asks).toHaveLength(1);
    expect((await read(prefix))?.source).toBe('hub');
  });

  it('an unreadable stored value counts as absent', async () => {
    const prefix = `${base}-${n++}`;
    const c = clock();
    await redis.set(`${prefix}:hub-features`, '{"kinds":"nope"}');
    const s = store({ prefix, now: c.now });
    expect(await s.view()).toEqual(withLimits(SPEC_FEATURES, LIMITS));
    const { conn, release } = session();
    release();
    s.opened(conn);
    await s.asking;
    expect((await read(prefix))?.source).toBe('hub');
  });

  it('while sessions stay open, a check every maxAgeMs / 4 asks through one of them once the answer is stale, and not after close', async () => {
    const prefix = `${base}-${n++}`;
    const c = clock();
    const maxAgeMs = 4000; // checks every second
    const s = new HubFeaturesStore({ redis, prefix, limits: LIMITS, logger, now: c.now, maxAgeMs });
    const { conn, asks, release } = session();
    release();
    let open: HubConnection[] = [];
    s.start(() => open);
    await new Promise((r) => setTimeout(r, 1300));
    expect(asks).toHaveLength(0); // nothing stored, but no session open here: nobody to ask through

    open = [conn];
    await vi.waitFor(() => expect(asks).toHaveLength(1), { timeout: 3000, interval: 50 });
    await s.asking;
    expect((await read(prefix))?.learnedAt).toBe(c.t);

    await new Promise((r) => setTimeout(r, 1300)); // a check with the answer fresh: no ask
    expect(asks).toHaveLength(1);

    c.t += maxAgeMs; // stale now, sessions still open, none opening
    await vi.waitFor(() => expect(asks).toHaveLength(2), { timeout: 3000, interval: 50 });
    await s.asking;
    expect((await read(prefix))?.learnedAt).toBe(c.t);

    s.close();
    c.t += maxAgeMs;
    await new Promise((r) => setTimeout(r, 1300));
    expect(asks).toHaveLength(2);
  });
});
