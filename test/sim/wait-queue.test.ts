// The buffered queue under HipConnection.next and the client's message/receipt queues.
import { describe, expect, it } from 'vitest';
import { TimeoutError, WaitQueue } from '../../src/mock-hub/reference-client/wait-queue.ts';

describe('WaitQueue', () => {
  it('keeps unmatched items queued in order for later takers', async () => {
    const q = new WaitQueue<number>();
    q.push(1);
    q.push(2);
    q.push(3);
    expect(await q.next((n) => n === 2)).toBe(2);
    expect(q.pending()).toEqual([1, 3]);
    expect(await q.next()).toBe(1);
    expect(await q.next()).toBe(3);
  });

  it('hands a new item to the oldest matching waiter only', async () => {
    const q = new WaitQueue<string>();
    const even = q.next((s) => s.startsWith('e'));
    const any1 = q.next();
    const any2 = q.next();
    q.push('odd');
    q.push('even');
    q.push('x');
    expect(await even).toBe('even');
    expect(await any1).toBe('odd');
    expect(await any2).toBe('x');
    expect(q.pending()).toEqual([]);
  });

  it('times out, then does not swallow the item that arrives later', async () => {
    const q = new WaitQueue<number>();
    await expect(q.next(undefined, 20, 'a number')).rejects.toBeInstanceOf(TimeoutError);
    q.push(7);
    expect(q.pending()).toEqual([7]);
  });

  it('fails waiters when ended, but still returns items queued before the end', async () => {
    const q = new WaitQueue<number>();
    const waiting = q.next((n) => n > 10, Infinity);
    q.push(1);
    q.end(new Error('closed'));
    await expect(waiting).rejects.toThrow('closed');
    expect(await q.next()).toBe(1);
    await expect(q.next()).rejects.toThrow('closed');
    expect(q.ended).toBe(true);
  });
});
