// The lane runner shared by the outbound conversation lanes and the webhook event lanes
// (src/delivery/lanes.ts), on its own: drains, slots, kicks, pauses, renewal, lost leases, close.
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LaneRunner, type LaneRun, type LaneRunnerOptions } from '../../src/delivery/lanes.ts';

interface L {
  key: string;
  n: number;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const tick = () => new Promise<void>((r) => setImmediate(r));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const runners: Array<LaneRunner<L>> = [];
afterEach(async () => {
  for (const r of runners.splice(0)) await r.close(0);
});

/** A runner whose drains run `body`; records starts, renewals, drops and ends. */
function runner(body: (lane: L, run: LaneRun<L>) => Promise<void>, over: Partial<LaneRunnerOptions<L>> = {}) {
  const log = { started: [] as string[], renewed: [] as string[][], dropped: [] as string[], ended: [] as Array<[string, boolean]> };
  const r = new LaneRunner<L>({
    key: (l) => l.key,
    concurrency: 2,
    drain: async (lane, run) => {
      log.started.push(`${lane.key}${lane.n}`);
      await body(lane, run);
    },
    renew: async (lanes) => void log.renewed.push(lanes.map((l) => l.key)),
    renewMs: 60_000,
    dropped: async (lane) => void log.dropped.push(lane.key),
    ended: (lane, lost) => void log.ended.push([lane.key, lost]),
    logger: pino({ level: 'silent' }),
    ...over,
  });
  runners.push(r);
  return { r, log };
}

describe('LaneRunner', () => {
  it('drains a lane once at a time; a kick meanwhile goes to its drain, a later one starts a new drain', async () => {
    const gate = deferred();
    const seen: Array<number | undefined> = [];
    const { r, log } = runner(async (_lane, run) => {
      await gate.promise;
      seen.push(run.again()?.n); // kicked twice meanwhile: the latest
      seen.push(run.again()?.n); // taken: nothing left, the lane is done here
    });
    r.kick({ key: 'a', n: 1 });
    r.kick({ key: 'a', n: 2 });
    r.kick({ key: 'a', n: 3 });
    expect(r.has('a')).toBe(true);
    expect(r.pending).toBe(1);
    gate.resolve();
    await until(() => log.ended.length === 1, 'the drain to end');
    expect(seen).toEqual([3, undefined]);
    expect(log.started).toEqual(['a1']);
    expect(r.has('a')).toBe(false);
    r.kick({ key: 'a', n: 4 });
    await until(() => log.ended.length === 2, 'the second drain');
    expect(log.started).toEqual(['a1', 'a4']);
  });

  it('forgets a kick on dropKick, and starts a new drain for a kick after again() found none', async () => {
    const gate = deferred();
    const after = deferred();
    const { r, log } = runner(async (lane, run) => {
      if (lane.n !== 1) return;
      await gate.promise;
      run.dropKick();
      expect(run.again()).toBeUndefined();
      await after.promise; // still running, but the lane is no longer this drain's
    });
    r.kick({ key: 'a', n: 1 });
    r.kick({ key: 'a', n: 2 });
    gate.resolve();
    await until(() => !r.has('a'), 'the lane to be given up');
    r.kick({ key: 'a', n: 3 });
    await until(() => log.started.length === 2, 'a new drain while the old one ends');
    expect(log.started).toEqual(['a1', 'a3']);
    after.resolve();
    await until(() => log.ended.length === 2, 'both drains to end');
  });

  it('runs at most `concurrency` drains; the others start first come first served', async () => {
    const gates = new Map<string, ReturnType<typeof deferred>>();
    const { r, log } = runner(async (lane) => {
      const g = deferred();
      gates.set(lane.key, g);
      await g.promise;
    });
    for (const key of ['a', 'b', 'c', 'd']) r.kick({ key, n: 0 });
    await tick();
    expect(log.started).toEqual(['a0', 'b0']);
    expect(r.pending).toBe(4);
    gates.get('b')?.resolve();
    await until(() => log.started.length === 3, 'c to start');
    expect(log.started).toEqual(['a0', 'b0', 'c0']);
    gates.get('a')?.resolve();
    await until(() => log.started.length === 4, 'd to start');
    for (const g of gates.values()) g.resolve();
    await until(() => log.ended.length === 4, 'all drains to end');
  });

  it('lets a waiting lane step while a drain pauses, and hands the slot back in turn', async () => {
    const order: string[] = [];
    const { r } = runner(
      async (lane, run) => {
        order.push(`${lane.key}:1`);
        expect(await run.pause(lane.key === 'a' ? 30 : 0)).toBe(true);
        order.push(`${lane.key}:2`);
      },
      { concurrency: 1 },
    );
    r.kick({ key: 'a', n: 0 });
    r.kick({ key: 'b', n: 0 });
    await until(() => order.length === 4, 'both drains');
    // b got the slot while a waited; b's pause(0) had nobody to yield to.
    expect(order).toEqual(['a:1', 'b:1', 'b:2', 'a:2']);
  });

  it('pause(0) yields the slot to a lane waiting for one, so lanes take turns step by step', async () => {
    const order: string[] = [];
    const { r } = runner(
      async (lane, run) => {
        await tick(); // both lanes kicked
        for (let step = 1; step <= 2; step++) {
          if (step > 1) expect(await run.pause(0)).toBe(true);
          order.push(`${lane.key}:${step}`);
        }
      },
      { concurrency: 1 },
    );
    r.kick({ key: 'a', n: 0 });
    r.kick({ key: 'b', n: 0 });
    await until(() => order.length === 4, 'both drains');
    expect(order).toEqual(['a:1', 'b:1', 'a:2', 'b:2']);
  });

  it('renews the lanes being drained, or every lane known when kicks come with the lease', async () => {
    const gate = deferred();
    const plain = runner(() => gate.promise, { concurrency: 1, renewMs: 20 });
    plain.r.kick({ key: 'a', n: 0 });
    plain.r.kick({ key: 'b', n: 0 });
    await until(() => plain.log.renewed.length > 0, 'a renewal');
    expect(plain.log.renewed[0]).toEqual(['a']);
    const leased = runner(() => gate.promise, { concurrency: 1, renewMs: 20, leasedOnKick: true });
    leased.r.kick({ key: 'a', n: 0 });
    leased.r.kick({ key: 'b', n: 0 });
    await until(() => leased.log.renewed.length > 0, 'a renewal');
    expect(leased.log.renewed[0]).toEqual(['a', 'b']);
    gate.resolve();
  });

  it('tells a drain its lease is lost (ending a pause early), and reports it when the drain ends', async () => {
    let lose = false;
    const { r, log } = runner(
      async (_lane, run) => {
        lose = true;
        const t0 = Date.now();
        expect(await run.pause(10_000)).toBe(false);
        expect(Date.now() - t0).toBeLessThan(5000);
        expect(run.lost).toBe(true);
        expect(run.stopped).toBe(true);
      },
      { renewMs: 20, renew: async (lanes) => (lose ? lanes.map((l) => l.key) : []) },
    );
    r.kick({ key: 'a', n: 0 });
    await until(() => log.ended.length === 1, 'the drain to end');
    expect(log.ended).toEqual([['a', true]]);
  });

  it('with leasedOnKick, a kick after a lost lease means the lane is ours again', async () => {
    let lose = true;
    const lostSeen: boolean[] = [];
    const gate = deferred();
    const { r, log } = runner(
      async (_lane, run) => {
        await gate.promise;
        lostSeen.push(run.lost);
      },
      { renewMs: 20, leasedOnKick: true, renew: async (lanes) => (lose ? lanes.map((l) => l.key) : []) },
    );
    r.kick({ key: 'a', n: 1 });
    await sleep(60);
    lose = false;
    r.kick({ key: 'a', n: 2 });
    gate.resolve();
    await until(() => log.ended.length === 1, 'the drain to end');
    expect(lostSeen).toEqual([false]);
    expect(log.ended).toEqual([['a', false]]);
  });

  it('keeps the runner going when a drain throws', async () => {
    const { r, log } = runner(async (lane) => {
      if (lane.n === 1) throw new Error('boom');
    });
    r.kick({ key: 'a', n: 1 });
    await until(() => log.ended.length === 1, 'the failed drain to end');
    r.kick({ key: 'a', n: 2 });
    await until(() => log.ended.length === 2, 'the next drain');
    expect(log.started).toEqual(['a1', 'a2']);
  });

  it('on close, drops the waiting lanes and later kicks, stops pauses, and waits for drains within the grace', async () => {
    const gate = deferred();
    const results: boolean[] = [];
    const { r, log } = runner(
      async (lane, run) => {
        if (lane.key === 'p') results.push(await run.pause(10_000));
        else await gate.promise;
      },
      { concurrency: 2 },
    );
    r.kick({ key: 'p', n: 0 });
    r.kick({ key: 'slow', n: 0 });
    r.kick({ key: 'waiting', n: 0 });
    await until(() => log.started.length === 3, 'p to pause and the waiting lane to start');
    r.kick({ key: 'queued', n: 0 });
    const t0 = Date.now();
    await r.close(100);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90); // 'slow' outlived the grace
    expect(results).toEqual([false]);
    expect(log.dropped).toEqual(['queued']);
    r.kick({ key: 'late', n: 0 });
    await tick();
    expect(log.dropped).toEqual(['queued', 'late']);
    expect(r.closing).toBe(true);
    gate.resolve();
  });

  it('waits for every drain when the grace is not finite', async () => {
    const gate = deferred();
    const { r } = runner(() => gate.promise);
    r.kick({ key: 'a', n: 0 });
    let closed = false;
    const closing = r.close(Infinity).then(() => (closed = true));
    await sleep(50);
    expect(closed).toBe(false);
    gate.resolve();
    await closing;
    expect(closed).toBe(true);
  });
});
