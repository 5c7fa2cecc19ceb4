import autocannon from 'autocannon';
import type {
  DatabaseCommandCounter,
  DatabaseCommandCounts,
} from '../../src/infra/commands/database-command-counter.js';

export interface LoadTarget {
  name: string;
  url: string;
  headers?: Record<string, string>;
}

export interface LoadOptions {
  connections: number;
  durationSeconds: number;
  warmupSeconds: number;
}

export interface LoadResult {
  name: string;
  requestsPerSecond: number;
  /** Latencies in milliseconds; autocannon records whole milliseconds, so 0 means under 1 ms. */
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  non2xx: number;
  /** What the measured requests sent to MongoDB and Redis, when the app counts commands. */
  commands?: DatabaseCommandCounts;
}

function fire(target: LoadTarget, options: LoadOptions, durationSeconds: number) {
  return autocannon({
    url: target.url,
    headers: target.headers,
    connections: options.connections,
    duration: durationSeconds,
    // The load runs on its own thread, so it does not share the event loop of the server
    // under test (both run in this process).
    workers: 1,
    timeout: 10,
  });
}

/**
 * Checks the target answers 2xx, warms it up, then measures it under a bounded load; with a
 * counter (the app's, COUNT_DATABASE_COMMANDS on), also what the measured requests sent.
 */
export async function measure(
  target: LoadTarget,
  options: LoadOptions,
  counter?: DatabaseCommandCounter,
): Promise<LoadResult> {
  const probe = await fetch(target.url, { headers: target.headers });
  if (!probe.ok) {
    throw new Error(`${target.name}: ${target.url} answered ${probe.status}, not 2xx`);
  }
  await probe.arrayBuffer();
  if (options.warmupSeconds > 0) {
    await fire(target, options, options.warmupSeconds);
  }
  const before = counter?.snapshot();
  const result = await fire(target, options, options.durationSeconds);
  const commands = before === undefined ? undefined : counter?.since(before);
  return {
    name: target.name,
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    errors: result.errors,
    non2xx: result.non2xx,
    commands,
  };
}
