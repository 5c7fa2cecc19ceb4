import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from '../app.module.js';
import type { AppConfig } from '../config/app-config.js';
import { MaintenanceScheduler } from '../maintenance/maintenance.scheduler.js';
import type { CommandOutput } from './cli-commands.js';

/** The application without HTTP, scheduler or queue workers: this process runs one task and exits. */
async function withApplication<T>(
  config: AppConfig,
  work: (app: INestApplicationContext) => Promise<T>,
): Promise<T> {
  const app = await NestFactory.createApplicationContext(
    AppModule.forRoot({
      config: {
        ...config,
        roles: { api: false, worker: false, scheduler: false, media: false },
      },
    }),
    { logger: ['warn', 'error'] },
  );
  try {
    return await work(app);
  } finally {
    await app.close();
  }
}

/** A maintenance task run on demand, under the same cluster lock as its cron. */
function maintenanceCommand(task: string) {
  return async (config: AppConfig, _args: string[], print: CommandOutput): Promise<void> => {
    const startedAt = Date.now();
    const outcome = await withApplication(config, (app) =>
      app.get(MaintenanceScheduler).runNow(task),
    );
    if (!outcome.ran) {
      throw new Error(
        `${task} is running on another instance right now (cluster lock held); try again later`,
      );
    }
    print(`${task}: ${JSON.stringify(outcome.result)} in ${Date.now() - startedAt} ms`);
  };
}

export const cleanupSessionsCommand = maintenanceCommand('session-timeout');
export const reconcileCallsCommand = maintenanceCommand('reconcile-calls');
export const purgeSessionsCommand = maintenanceCommand('purge-sessions');
export const sweepWebhooksCommand = maintenanceCommand('sweep-webhooks');
export const purgeWebhookDeliveriesCommand = maintenanceCommand('purge-webhook-deliveries');
export const sweepRecordingsCommand = maintenanceCommand('sweep-recordings');
export const purgeRecordingsCommand = maintenanceCommand('purge-recordings');
