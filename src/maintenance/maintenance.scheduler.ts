import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { RedisLockService } from '../infra/lock/redis-lock.service.js';
import { MongoBackupService } from './backup/mongo-backup.service.js';
import { RedisSnapshotService } from './backup/redis-snapshot.service.js';
import { CallReconciliationService } from './call-reconciliation.service.js';
import { SessionPurgeService } from './session-purge.service.js';
import { SessionTimeoutService } from './session-timeout.service.js';
import { RecordingMaintenanceService } from '../recordings/recording-maintenance.service.js';
import { WebhookSweepService } from '../webhooks/webhook-sweep.service.js';

export interface ScheduledTask {
  name: string;
  cron: string;
  /** Longest the task may hold the cluster lock. */
  lockMs: number;
  run: () => Promise<unknown>;
}

/**
 * Cron entries: each only takes the cluster lock and calls one service method, so with
 * several instances each run happens once; the same methods are on the CLI.
 */
@Injectable()
export class MaintenanceScheduler implements OnApplicationBootstrap {
  private readonly logger = new Logger(MaintenanceScheduler.name);

  constructor(
    private readonly registry: SchedulerRegistry,
    private readonly locks: RedisLockService,
    private readonly sessionTimeout: SessionTimeoutService,
    private readonly reconciliation: CallReconciliationService,
    private readonly sessionPurge: SessionPurgeService,
    private readonly backup: MongoBackupService,
    private readonly redisSnapshot: RedisSnapshotService,
    private readonly webhookSweep: WebhookSweepService,
    private readonly recordings: RecordingMaintenanceService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  tasks(): ScheduledTask[] {
    const schedule = this.config.maintenance;
    return [
      {
        name: 'session-timeout',
        cron: schedule.sessionTimeoutCron,
        lockMs: 50_000,
        run: () => this.sessionTimeout.run(),
      },
      {
        name: 'reconcile-calls',
        cron: schedule.reconcileCron,
        lockMs: 240_000,
        run: () => this.reconciliation.run(),
      },
      {
        name: 'sweep-webhooks',
        cron: schedule.reconcileCron,
        lockMs: 240_000,
        run: () => this.webhookSweep.run(),
      },
      {
        name: 'purge-webhook-deliveries',
        cron: schedule.cleanupCron,
        lockMs: 600_000,
        run: () => this.webhookSweep.purgeDeliveries(),
      },
      {
        name: 'sweep-recordings',
        cron: schedule.reconcileCron,
        lockMs: 240_000,
        run: () => this.recordings.sweep(),
      },
      {
        name: 'purge-recordings',
        cron: schedule.cleanupCron,
        lockMs: 3_600_000,
        run: () => this.recordings.purge(),
      },
      {
        name: 'purge-sessions',
        cron: schedule.cleanupCron,
        lockMs: 600_000,
        run: () => this.sessionPurge.run(),
      },
      {
        name: 'backup',
        cron: this.config.backup.cron,
        lockMs: 3_600_000,
        // The Redis snapshot runs even when the MongoDB backup fails; both outcomes are reported.
        run: async () => {
          const [mongodb, redis] = await Promise.allSettled([
            this.backup.backup(),
            this.redisSnapshot.snapshot(),
          ]);
          const redisOutcome = redis.status === 'fulfilled' ? redis.value : String(redis.reason);
          if (mongodb.status === 'rejected') {
            throw new Error(
              `MongoDB backup failed: ${String(mongodb.reason)}; Redis snapshot: ${JSON.stringify(redisOutcome)}`,
            );
          }
          return { mongodb: mongodb.value, redis: redisOutcome };
        },
      },
    ];
  }

  onApplicationBootstrap(): void {
    if (!this.config.roles.scheduler) {
      return;
    }
    if (!this.config.maintenance.schedulerEnabled) {
      this.logger.log('scheduler disabled (SCHEDULER_ENABLED=false)');
      return;
    }
    for (const task of this.tasks()) {
      const job = CronJob.from({
        cronTime: task.cron,
        onTick: () => void this.runLocked(task),
        timeZone: 'UTC',
      });
      this.registry.addCronJob(task.name, job);
      job.start();
    }
  }

  /** Runs one task now under its cluster lock (the CLI's way in); `ran: false` when it runs elsewhere. */
  async runNow(name: string): Promise<{ ran: true; result: unknown } | { ran: false }> {
    const task = this.tasks().find((candidate) => candidate.name === name);
    if (!task) {
      throw new Error(`Unknown maintenance task ${name}`);
    }
    return this.locks.runExclusive<unknown>(`cron:${task.name}`, task.lockMs, task.run);
  }

  /** Runs the task if no other instance is running it; logs a one-line summary. */
  async runLocked(task: ScheduledTask): Promise<void> {
    const startedAt = Date.now();
    try {
      const outcome = await this.locks.runExclusive(`cron:${task.name}`, task.lockMs, task.run);
      if (!outcome.ran) {
        this.logger.debug(`${task.name}: skipped, another instance holds the lock`);
        return;
      }
      this.logger.log(
        `${task.name}: ${JSON.stringify(outcome.result)} in ${Date.now() - startedAt} ms`,
      );
    } catch (error) {
      this.logger.error(`${task.name} failed after ${Date.now() - startedAt} ms: ${String(error)}`);
    }
  }
}
