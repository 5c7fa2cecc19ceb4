import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { ThrottlerModule } from '@nestjs/throttler';
import { LoggerModule } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { AgentsModule } from './agents/agents.module.js';
import { ApiModule } from './api.module.js';
import { AuthModule } from './auth/auth.module.js';
import { CallsModule } from './calls/calls.module.js';
import { CampaignsModule } from './campaigns/campaigns.module.js';
import { ThrottledAuthGuard } from './auth/throttled-auth.guard.js';
import { AllExceptionsFilter } from './common/filters/all-exceptions.filter.js';
import { RolesGuard } from './common/guards/roles.guard.js';
import { buildLoggerParams } from './common/logging/logger-options.js';
import { CommonModule } from './common/common.module.js';
import { RedisThrottlerStorage } from './common/throttling/redis-throttler.storage.js';
import type { AppConfig } from './config/app-config.js';
import { APP_CONFIG, ConfigModule, configFromEnvironment } from './config/config.module.js';
import { HealthModule } from './health/health.module.js';
import { InfraModule } from './infra/infra.module.js';
import { MaintenanceModule } from './maintenance/maintenance.module.js';
import { MediaModule } from './media.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { PhonesModule } from './phones/phones.module.js';
import { SessionsModule } from './sessions/sessions.module.js';
import { StorageModule } from './storage/storage.module.js';
import { TelephonyModule } from './telephony/telephony.module.js';
import { UsersModule } from './users/users.module.js';
import { WorkerModule } from './worker.module.js';

export interface AppModuleOptions {
  /** A ready configuration (tests, CLI); read from the environment when absent. */
  config?: AppConfig;
  /** Where logs go (tests capture them); stdout when absent. */
  logStream?: DestinationStream;
}

@Module({})
export class AppModule {
  static forRoot(options: AppModuleOptions = {}): DynamicModule {
    const config = options.config ?? configFromEnvironment();
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRootAsync({
          inject: [APP_CONFIG],
          useFactory: (config: AppConfig) => buildLoggerParams(config, options.logStream),
        }),
        InfraModule,
        StorageModule,
        CommonModule,
        ThrottlerModule.forRootAsync({
          inject: [APP_CONFIG, RedisThrottlerStorage],
          useFactory: (config: AppConfig, storage: RedisThrottlerStorage) => ({
            throttlers: [
              {
                name: 'default',
                ttl: config.throttle.ttlSeconds * 1000,
                limit: config.throttle.limit,
              },
            ],
            storage,
          }),
        }),
        HealthModule,
        UsersModule,
        AuthModule,
        AgentsModule,
        PhonesModule,
        SessionsModule,
        CallsModule,
        TelephonyModule,
        MetricsModule,
        ScheduleModule.forRoot(),
        MaintenanceModule,
        // Every role that finalizes calls tells their campaigns (CALL_OUTCOME_LISTENER).
        CampaignsModule,
        // Roles (APP_ROLES): the scheduler role is read by MaintenanceScheduler itself.
        ...(config.roles.api ? [ApiModule] : []),
        ...(config.roles.worker ? [WorkerModule] : []),
        ...(config.roles.media ? [MediaModule] : []),
      ],
      providers: [
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
        { provide: APP_GUARD, useExisting: ThrottledAuthGuard },
        { provide: APP_GUARD, useClass: RolesGuard },
      ],
    };
  }
}
