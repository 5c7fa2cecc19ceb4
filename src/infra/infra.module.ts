import { BullModule } from '@nestjs/bullmq';
import { Global, Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { DatabaseCommandCounter } from './commands/database-command-counter.js';
import { DatabaseCommandsModule } from './commands/database-commands.module.js';
import { ApiCacheService } from './cache/api-cache.service.js';
import { SecretBoxService } from './crypto/secret-box.service.js';
import { RedisLockService } from './lock/redis-lock.service.js';
import {
  DatabaseCapabilities,
  databaseCapabilitiesProvider,
} from './mongo/database-capabilities.js';
import { QueueConnectionHolder, QueueConnectionModule } from './queue/queue-connection.holder.js';
import { RedisModule } from './redis/redis.module.js';

/** Shared providers every feature module relies on: MongoDB, Redis, cache, queues, locks, crypto. */
@Global()
@Module({
  imports: [
    DatabaseCommandsModule,
    RedisModule,
    QueueConnectionModule,
    MongooseModule.forRootAsync({
      inject: [APP_CONFIG, DatabaseCommandCounter],
      useFactory: (config: AppConfig, counter: DatabaseCommandCounter) => ({
        uri: config.mongo.uri,
        monitorCommands: counter.enabled,
        connectionFactory: (connection: Connection) => {
          if (counter.enabled) {
            connection
              .getClient()
              .on('commandStarted', (event) => counter.recordMongo(event.commandName));
          }
          return connection;
        },
        maxPoolSize: config.mongo.maxPoolSize,
        minPoolSize: config.mongo.minPoolSize,
        socketTimeoutMS: config.mongo.socketTimeoutMS,
        serverSelectionTimeoutMS: config.mongo.serverSelectionTimeoutMS,
        // Indexes and collections are created by migrations, never at start-up.
        autoIndex: false,
        autoCreate: false,
      }),
    }),
    BullModule.forRootAsync({
      imports: [QueueConnectionModule],
      inject: [QueueConnectionHolder],
      useFactory: (holder: QueueConnectionHolder) => ({
        connection: holder.connection,
        prefix: holder.prefix,
      }),
    }),
  ],
  providers: [SecretBoxService, RedisLockService, ApiCacheService, databaseCapabilitiesProvider],
  exports: [
    DatabaseCommandsModule,
    RedisModule,
    QueueConnectionModule,
    SecretBoxService,
    RedisLockService,
    ApiCacheService,
    DatabaseCapabilities,
  ],
})
export class InfraModule {}
