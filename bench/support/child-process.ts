import { type ChildProcess, fork } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/** What every helper process may say: that it failed (then every wait on it rejects). */
export interface ChildFailure {
  type: 'failed';
  message: string;
}

type MessageOf<From extends { type: string }, T extends From['type']> = Extract<From, { type: T }>;

/**
 * A bench's helper process (fakes, receivers) and its IPC channel: typed messages both ways,
 * waits bounded in time, and a stop that cannot hang (a `stop` message, then SIGKILL after 5 s).
 * A `failed` message or the child's exit rejects every wait.
 */
export class BenchChild<From extends { type: string }, To extends { type: string }> {
  private readonly listeners = new Set<(message: From | ChildFailure) => void>();
  private exited = false;
  private readonly exit: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly name: string,
  ) {
    // A send after the child is gone (it exited, or hit its own time bound) is reported through
    // the waits below, not as an unhandled 'error' event that would end the bench abruptly.
    child.on('error', (error) => {
      for (const listener of [...this.listeners]) {
        listener({ type: 'failed', message: `the ${name} process: ${error.message}` });
      }
    });
    child.on('message', (message: From) => {
      for (const listener of [...this.listeners]) {
        listener(message);
      }
    });
    this.exit = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited = true;
        const failure: ChildFailure = {
          type: 'failed',
          message: `the ${name} process exited (${signal ?? String(code)})`,
        };
        for (const listener of [...this.listeners]) {
          listener(failure);
        }
        resolve();
      });
    });
  }

  /** Forks `entry` (a built module, e.g. `new URL('./support/x.js', import.meta.url)`). */
  static start<From extends { type: string }, To extends { type: string }>(
    entry: URL,
    name: string,
  ): BenchChild<From, To> {
    const child = fork(fileURLToPath(entry), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new BenchChild<From, To>(child, name);
  }

  /** Calls `listener` with every message until the returned function is called. */
  listen(listener: (message: From | ChildFailure) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The next message of `type`; a `failed` message or the child's exit rejects. */
  next<T extends From['type']>(type: T, timeoutMs: number): Promise<MessageOf<From, T>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        stop();
        reject(
          new Error(`no '${type}' from the ${this.name} process within ${timeoutMs / 1000} s`),
        );
      }, timeoutMs);
      const stop = this.listen((message) => {
        if (message.type === type) {
          clearTimeout(timer);
          stop();
          resolve(message as MessageOf<From, T>);
        } else if (message.type === 'failed') {
          clearTimeout(timer);
          stop();
          reject(new Error(`${this.name} process: ${(message as ChildFailure).message}`));
        }
      });
    });
  }

  /** Sends `message` and waits for the answer of `type`. */
  ask<T extends From['type']>(
    message: To,
    type: T,
    timeoutMs = 30_000,
  ): Promise<MessageOf<From, T>> {
    const answer = this.next(type, timeoutMs);
    this.send(message);
    return answer;
  }

  /** Sends `message` while the child is there (a wait on its answer then fails by itself). */
  send(message: To): void {
    if (this.child.connected) {
      this.child.send(message);
    }
  }

  async stop(): Promise<void> {
    if (this.exited) {
      return;
    }
    if (this.child.connected) {
      this.child.send({ type: 'stop' });
    }
    const stopped = await Promise.race([this.exit.then(() => true), sleep(5_000, false)]);
    if (!stopped) {
      this.child.kill('SIGKILL');
      await this.exit;
    }
  }
}
