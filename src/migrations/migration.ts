import type { Logger } from '@nestjs/common';
import type { Db } from 'mongodb';
import type { AppConfig } from '../config/app-config.js';

export interface MigrationContext {
  db: Db;
  config: AppConfig;
  logger: Logger;
}

/** One numbered, idempotent schema or data change with its inverse. */
export interface Migration {
  /** `NNN-kebab-name`; applied in this order. */
  id: string;
  description: string;
  up(context: MigrationContext): Promise<void>;
  down(context: MigrationContext): Promise<void>;
}
