import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SlidingWindowRateLimiter } from './exotel-rate-limiter.js';

/** Acquires in the background and reports which acquisitions have been granted so far. */
function track(limiter: SlidingWindowRateLimiter, key: string, count: number): () => number {
  let granted = 0;
  for (let index = 0; index < count; index += 1) {
    void limiter.acquire(key).then(() => {
      granted += 1;
    });
  }
  return () => granted;
}

describe('SlidingWindowRateLimiter', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('lets the first `limit` requests of a window through at once', async () => {
    const limiter = new SlidingWindowRateLimiter(3, 60_000);

    const granted = track(limiter, 'acct', 3);
    await vi.advanceTimersByTimeAsync(0);

    expect(granted()).toBe(3);
    expect(limiter.inFlight('acct')).toBe(3);
  });

  it('makes the request over the limit wait until the oldest one leaves the window', async () => {
    const limiter = new SlidingWindowRateLimiter(2, 60_000);
    await limiter.acquire('acct');
    await vi.advanceTimersByTimeAsync(10_000);
    await limiter.acquire('acct');

    const granted = track(limiter, 'acct', 1);
    await vi.advanceTimersByTimeAsync(49_999);
    expect(granted()).toBe(0);

    await vi.advanceTimersByTimeAsync(1);
    expect(granted()).toBe(1);
  });

  it('serves waiting requests in order, one per freed slot', async () => {
    const limiter = new SlidingWindowRateLimiter(2, 1_000);
    const order: string[] = [];
    await limiter.acquire('acct');
    await limiter.acquire('acct');

    for (const name of ['first', 'second', 'third']) {
      void limiter.acquire('acct').then(() => order.push(name));
    }
    await vi.advanceTimersByTimeAsync(999);
    expect(order).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(order).toEqual(['first', 'second']);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(order).toEqual(['first', 'second', 'third']);
  });

  it('counts each account on its own', async () => {
    const limiter = new SlidingWindowRateLimiter(1, 60_000);
    await limiter.acquire('acct-a');

    const grantedB = track(limiter, 'acct-b', 1);
    const grantedA = track(limiter, 'acct-a', 1);
    await vi.advanceTimersByTimeAsync(0);

    expect(grantedB()).toBe(1);
    expect(grantedA()).toBe(0);
  });

  it('never lets more than `limit` requests start within any window', async () => {
    const limiter = new SlidingWindowRateLimiter(5, 1_000);
    const starts: number[] = [];
    for (let index = 0; index < 23; index += 1) {
      void limiter.acquire('acct').then(() => starts.push(Date.now()));
    }
    await vi.advanceTimersByTimeAsync(10_000);

    expect(starts).toHaveLength(23);
    for (const start of starts) {
      expect(
        starts.filter((other) => other >= start && other < start + 1_000).length,
      ).toBeLessThanOrEqual(5);
    }
  });

  it('refuses a limit below 1', () => {
    expect(() => new SlidingWindowRateLimiter(0, 1_000)).toThrow(RangeError);
  });
});
