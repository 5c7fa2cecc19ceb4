import { Module } from '@nestjs/common';
import { getConnectionToken } from '@nestjs/mongoose';
import type { Db } from 'mongodb';
import type { Connection } from 'mongoose';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import type { ObjectStorage } from '../../storage/object-storage.js';
import { createBackupStorage } from '../../storage/storage.factory.js';
import { BACKUP_DATABASE, BACKUP_STORAGE } from './backup.tokens.js';
import { MongoBackupService } from './mongo-backup.service.js';
import { MongoRestoreService } from './mongo-restore.service.js';
import { RedisSnapshotService } from './redis-snapshot.service.js';

/** Backup, restore and Redis snapshot services for the scheduler; the CLI builds them directly. */
@Module({
  providers: [
    {
      provide: BACKUP_DATABASE,
      inject: [getConnectionToken()],
      useFactory: (connection: Connection): Db => connection.db as Db,
    },
    {
      provide: BACKUP_STORAGE,
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig): Promise<ObjectStorage | null> =>
        (await createBackupStorage(config.storage)) ?? null,
    },
    MongoBackupService,
    MongoRestoreService,
    RedisSnapshotService,
  ],
  exports: [MongoBackupService, MongoRestoreService, RedisSnapshotService],
})
export class BackupModule {}
