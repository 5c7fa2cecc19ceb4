import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { REDIS_CLIENT } from '../../infra/redis/redis.module.js';

export type RedisSnapshotResult =
  /** The snapshot finished; `lastSave` is Redis' LASTSAVE afterwards. */
  | { status: 'completed'; lastSave: Date; durationMs: number; message: string }
  /** Neither RDB snapshots nor the append-only file are configured: nothing to snapshot. */
  | { status: 'disabled'; message: string }
  /** The server refuses the commands (managed Redis, renamed CONFIG/BGSAVE). */
  | { status: 'unavailable'; message: string }
  | { status: 'failed'; message: string };

export interface RedisSnapshotOptions {
  /** How long to wait for the background save. */
  timeoutMs?: number;
  pollIntervalMs?: number;
}

interface Persistence {
  rdb: boolean;
  aof: boolean;
}

const DEFAULT_TIMEOUT_MS = 5 * 60 * 1000;
const DEFAULT_POLL_INTERVAL_MS = 250;

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function configValue(reply: unknown): string | undefined {
  return Array.isArray(reply) && typeof reply[1] === 'string' ? reply[1] : undefined;
}

function infoField(info: string, field: string): string | undefined {
  const line = info.split(/\r?\n/).find((entry) => entry.startsWith(`${field}:`));
  return line?.slice(field.length + 1).trim();
}

/**
 * Triggers BGSAVE on the cache Redis and waits for it, where persistence is configured; says
 * plainly when it is not (a Redis run with `--save ""` keeps nothing across restarts).
 */
@Injectable()
export class RedisSnapshotService {
  private readonly logger = new Logger(RedisSnapshotService.name);

  constructor(@Inject(REDIS_CLIENT) private readonly redis: Redis) {}

  async snapshot(options: RedisSnapshotOptions = {}): Promise<RedisSnapshotResult> {
    const result = await this.run(options);
    if (result.status === 'completed') {
      this.logger.log(result.message);
    } else {
      this.logger.warn(result.message);
    }
    return result;
  }

  private async run(options: RedisSnapshotOptions): Promise<RedisSnapshotResult> {
    const started = Date.now();
    const persistence = await this.readPersistence();
    if (persistence === 'refused') {
      return {
        status: 'unavailable',
        message:
          'redis snapshot: CONFIG GET is refused by this Redis, persistence settings are unknown; ' +
          "no snapshot taken (use the provider's own backups)",
      };
    }
    if (!persistence.rdb && !persistence.aof) {
      return {
        status: 'disabled',
        message:
          'redis snapshot: persistence is disabled on this Redis (save "" and appendonly no); ' +
          'no snapshot taken, its data does not survive a restart',
      };
    }
    try {
      await this.redis.bgsave();
    } catch (error) {
      // A save already running (Redis' own schedule) is as good as ours: wait for it.
      if (!/already in progress/i.test(messageOf(error))) {
        return { status: 'failed', message: `redis snapshot: BGSAVE refused: ${messageOf(error)}` };
      }
    }
    const outcome = await this.waitForSave(
      options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
    );
    if (outcome !== undefined) {
      return { status: 'failed', message: `redis snapshot: ${outcome}` };
    }
    const lastSave = new Date((await this.redis.lastsave()) * 1000);
    const durationMs = Date.now() - started;
    return {
      status: 'completed',
      lastSave,
      durationMs,
      message: `redis snapshot: BGSAVE done in ${durationMs} ms, LASTSAVE ${lastSave.toISOString()}`,
    };
  }

  private async readPersistence(): Promise<Persistence | 'refused'> {
    try {
      const save = configValue(await this.redis.config('GET', 'save'));
      const appendOnly = configValue(await this.redis.config('GET', 'appendonly'));
      return { rdb: save !== undefined && save.trim() !== '', aof: appendOnly === 'yes' };
    } catch {
      return 'refused';
    }
  }

  /** Waits for the background save to end; returns why it failed, or undefined when it succeeded. */
  private async waitForSave(
    timeoutMs: number,
    pollIntervalMs: number,
  ): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await this.redis.info('persistence');
      if (infoField(info, 'rdb_bgsave_in_progress') === '0') {
        const status = infoField(info, 'rdb_last_bgsave_status');
        return status === 'ok'
          ? undefined
          : `background save failed (rdb_last_bgsave_status:${status ?? 'missing'})`;
      }
      if (Date.now() >= deadline) {
        return `background save still running after ${timeoutMs} ms`;
      }
      await sleep(pollIntervalMs);
    }
  }
}
