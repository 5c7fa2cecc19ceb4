import { Global, Module } from '@nestjs/common';
import { getConnectionToken } from '@nestjs/mongoose';
import { Test } from '@nestjs/testing';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { REDIS_CLIENT } from '../../infra/redis/redis.module.js';
import { BackupModule } from './backup.module.js';
import { BACKUP_DATABASE } from './backup.tokens.js';
import { MongoBackupService } from './mongo-backup.service.js';
import { MongoRestoreService } from './mongo-restore.service.js';
import { RedisSnapshotService } from './redis-snapshot.service.js';

const database = { databaseName: 'ai-calling-platform' };

/** What the app's global modules (config, Mongoose, Redis) provide, as stand-ins. */
@Global()
@Module({
  providers: [
    { provide: APP_CONFIG, useValue: loadConfig({ NODE_ENV: 'test' }).config },
    { provide: getConnectionToken(), useValue: { db: database } },
    { provide: REDIS_CLIENT, useValue: {} },
  ],
  exports: [APP_CONFIG, getConnectionToken(), REDIS_CLIENT],
})
class AppProvidersStandIn {}

describe('BackupModule', () => {
  it('gives the scheduler its services, reading the database of the Mongoose connection', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [AppProvidersStandIn, BackupModule],
    }).compile();

    expect(moduleRef.get(MongoBackupService)).toBeInstanceOf(MongoBackupService);
    expect(moduleRef.get(MongoRestoreService)).toBeInstanceOf(MongoRestoreService);
    expect(moduleRef.get(RedisSnapshotService)).toBeInstanceOf(RedisSnapshotService);
    expect(moduleRef.get(BACKUP_DATABASE)).toBe(database);
  });
});
