// The Matrix line of the bench's targets: the arithmetic of what one thread can bridge when each
// message costs a Megolm decrypt and a libsignal encrypt, and what the target leaves beside them.
import { describe, expect, it } from 'vitest';
import { cryptoBound, type MatrixFigures } from '../../bench/matrix.ts';
import { matrixTarget } from '../../bench/matrix-report.ts';

function figures(megolm: number, signal: number, path: number): MatrixFigures {
  return {
    ceiling: { samples: [megolm], median: megolm, spread: 0, usPerMsg: 1e6 / megolm },
    ceilingIdb: { median: megolm / 2, usPerMsg: 2e6 / megolm },
    signalEncrypt: { median: signal, usPerMsg: 1e6 / signal },
    cryptoBound: cryptoBound(megolm, signal),
    path: {
      samples: [{ messages: 1000, rate: path, ingestRate: path, complete: true, cpuUsPerMsg: { bench: 1, redis: 1 } }],
      rate: path, spread: 0, ingestRate: path,
      split: { handlerUs: 0, decryptUs: 0, submitUs: 0, persistUs: 0 },
      cpuUsPerMsg: { bench: 1, redis: 1 },
    },
    ratio: path / megolm,
    portals: 16,
    txnEvents: 50,
    sendStatuses: { setting: 'all', isDefault: true },
  };
}

describe('bench: the Matrix target', () => {
  it('bounds one thread by the two cryptographic steps', () => {
    // 2,000/s decrypt (500 µs) + 8,000/s encrypt (125 µs) = 625 µs: 1,600/s, 0.8 of the decrypt rate.
    const b = cryptoBound(2000, 8000);
    expect(b.rate).toBeCloseTo(1600, 6);
    expect(b.ratio).toBeCloseTo(0.8, 9);
  });

  it('says what the target leaves per message beside the cryptography', () => {
    // 0.8 × 2,000 = 1,600/s: 625 µs per message; decrypt 500 + encrypt 100 µs leave 25 µs.
    const t = matrixTarget(figures(2000, 10_000, 400));
    expect(t.met).toBe(false);
    expect(t.detail).toContain('400 msg/s = 0.20 × 2,000; needs 1,600');
    expect(t.detail).toContain('alone take 600 µs/msg on one thread: the target leaves 25 µs/msg for all the rest');
  });

  it('says when the cryptography alone exceeds what the target allows', () => {
    const t = matrixTarget(figures(2000, 4000, 400));
    expect(t.detail).toContain('alone take 750 µs/msg on one thread: more than the target allows before any other work');
  });

  it('is met only when the path reaches 0.8 × and every sample completed', () => {
    expect(matrixTarget(figures(2000, 10_000, 1700)).met).toBe(true);
    const f = figures(2000, 10_000, 1700);
    (f.path.samples[0] as { complete: boolean }).complete = false;
    expect(matrixTarget(f).met).toBe(false);
  });
});
