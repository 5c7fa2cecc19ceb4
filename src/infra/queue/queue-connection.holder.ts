import { Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { DatabaseCommandCounter } from '../commands/database-command-counter.js';
import { closeRedisConnection, createRedisConnection } from '../redis/redis-connection.factory.js';

/**
 * The queue Redis connection (REDIS_QUEUE_URL, which should be a `noeviction` instance),
 * shared by every queue and duplicated by BullMQ for its blocking worker connections. Locks
 * live there too: a lock evicted from a cache Redis would let two holders in.
 */
@Injectable()
export class QueueConnectionHolder implements OnApplicationShutdown {
  readonly connection: Redis;
  readonly prefix: string;

  constructor(@Inject(APP_CONFIG) config: AppConfig, counter: DatabaseCommandCounter) {
    this.connection = createRedisConnection(
      config.redis.queueUrl,
      'queue',
      'ai-calling-platform:queue',
      { counter },
    );
    this.prefix = config.redis.queuePrefix;
  }

  async onApplicationShutdown(): Promise<void> {
    await closeRedisConnection(this.connection);
  }
}

/** Provides the one queue connection to BullMQ and to the locks. */
@Module({ providers: [QueueConnectionHolder], exports: [QueueConnectionHolder] })
export class QueueConnectionModule {}
