/**
 * The only place benches read the environment. Durations are bounded so a typo can never
 * start a load test that does not stop.
 */
export interface BenchEnvironment {
  /** Server URI of an existing MongoDB, or undefined to start a local MongoDB-wire server. */
  mongoUri?: string;
  /** An existing Redis, or undefined for 127.0.0.1:6379 (or a redis-server started for the run). */
  redisUrl?: string;
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  /** bench:calls: how many calls get the callback storm. */
  calls: number;
  /** bench:backup: the call-log counts to back up and restore (BENCH_SIZES=a,b,...). */
  backupSizes: number[];
}

const DEFAULT_BACKUP_SIZES = [50_000, 200_000];

function sizeList(raw: string | undefined): number[] {
  if (raw === undefined || raw.trim() === '') {
    return DEFAULT_BACKUP_SIZES;
  }
  const sizes = raw.split(',').map((part) => Number(part.trim()));
  if (
    sizes.length > 4 ||
    sizes.some((size) => !Number.isInteger(size) || size < 1000 || size > 1_000_000)
  ) {
    throw new Error(`BENCH_SIZES must be up to 4 integers from 1000 to 1000000 (got "${raw}")`);
  }
  return sizes;
}

function boundedInteger(
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (raw === undefined || raw.trim() === '') {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`expected an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

export function readBenchEnvironment(environment = process.env): BenchEnvironment {
  return {
    mongoUri: environment.MONGODB_URI?.trim() || undefined,
    redisUrl: environment.REDIS_URL?.trim() || undefined,
    durationSeconds: boundedInteger(environment.BENCH_DURATION, 8, 1, 120),
    warmupSeconds: boundedInteger(environment.BENCH_WARMUP, 2, 0, 30),
    connections: boundedInteger(environment.BENCH_CONNECTIONS, 10, 1, 200),
    calls: boundedInteger(environment.BENCH_CALLS, 2000, 10, 20_000),
    backupSizes: sizeList(environment.BENCH_SIZES),
  };
}
