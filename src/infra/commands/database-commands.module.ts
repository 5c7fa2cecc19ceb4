import { Global, Module } from '@nestjs/common';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { DatabaseCommandCounter } from './database-command-counter.js';

/** The process's one command counter, for the MongoDB and Redis connections to report to. */
@Global()
@Module({
  providers: [
    {
      provide: DatabaseCommandCounter,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => new DatabaseCommandCounter(config.countDatabaseCommands),
    },
  ],
  exports: [DatabaseCommandCounter],
})
export class DatabaseCommandsModule {}
