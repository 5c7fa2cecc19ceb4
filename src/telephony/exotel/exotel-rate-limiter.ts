export interface RateLimiterClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const systemClock: RateLimiterClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

const IDLE_SWEEP_THRESHOLD = 100;

interface KeyWindow {
  /** Start times of the requests still inside the window, oldest first. */
  starts: number[];
  /** The last caller in line; the next one waits for it, so waiters go first come, first served. */
  tail: Promise<void>;
  waiting: number;
}

/**
 * Sliding-window limit per key (an Exotel account): at most `limit` starts in any `windowMs`.
 * A caller over the limit waits for a slot instead of failing, because Exotel answers a burst
 * over its per-account limit with 429s that would cost retries anyway. In memory, so the limit
 * holds per process.
 */
export class SlidingWindowRateLimiter {
  private readonly windows = new Map<string, KeyWindow>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly clock: RateLimiterClock = systemClock,
  ) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`limit must be a positive integer (got ${limit})`);
    }
  }

  /** Resolves when the caller may send its request, having counted it. */
  async acquire(key: string): Promise<void> {
    const window = this.windowOf(key);
    window.waiting += 1;
    const turn = window.tail.then(() => this.takeSlot(window));
    window.tail = turn.catch(() => undefined);
    try {
      await turn;
    } finally {
      window.waiting -= 1;
    }
  }

  /** Requests counted in the current window for `key` (for tests and metrics). */
  inFlight(key: string): number {
    const window = this.windows.get(key);
    if (!window) {
      return 0;
    }
    this.forgetExpired(window, this.clock.now());
    return window.starts.length;
  }

  private async takeSlot(window: KeyWindow): Promise<void> {
    for (;;) {
      const now = this.clock.now();
      this.forgetExpired(window, now);
      const oldest = window.starts[0];
      if (oldest === undefined || window.starts.length < this.limit) {
        window.starts.push(now);
        return;
      }
      await this.clock.sleep(oldest + this.windowMs - now);
    }
  }

  private forgetExpired(window: KeyWindow, now: number): void {
    while (window.starts[0] !== undefined && window.starts[0] <= now - this.windowMs) {
      window.starts.shift();
    }
  }

  private windowOf(key: string): KeyWindow {
    let window = this.windows.get(key);
    if (!window) {
      if (this.windows.size >= IDLE_SWEEP_THRESHOLD) {
        this.dropIdleWindows();
      }
      window = { starts: [], tail: Promise.resolve(), waiting: 0 };
      this.windows.set(key, window);
    }
    return window;
  }

  // Keeps the map from growing with every account ever seen by a long-running process.
  private dropIdleWindows(): void {
    const now = this.clock.now();
    for (const [key, window] of this.windows) {
      this.forgetExpired(window, now);
      if (window.starts.length === 0 && window.waiting === 0) {
        this.windows.delete(key);
      }
    }
  }
}
