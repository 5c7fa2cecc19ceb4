import { Module } from '@nestjs/common';
import { getConnectionToken } from '@nestjs/mongoose';
import type { Db } from 'mongodb';
import type { Connection } from 'mongoose';
import { BACKUP_DATABASE } from './backup.tokens.js';
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
    MongoBackupService,
    MongoRestoreService,
    RedisSnapshotService,
  ],
  exports: [MongoBackupService, MongoRestoreService, RedisSnapshotService],
})
export class BackupModule {}
