import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { DatabaseCommandCounter } from '../commands/database-command-counter.js';
import { closeRedisConnection, createRedisConnection } from './redis-connection.factory.js';

/** Redis for sessions, token cache, throttling and locks (REDIS_URL). */
export const REDIS_CLIENT = Symbol('REDIS_CLIENT');

@Global()
@Module({
  providers: [
    {
      provide: REDIS_CLIENT,
      inject: [APP_CONFIG, DatabaseCommandCounter],
      useFactory: (config: AppConfig, counter: DatabaseCommandCounter): Redis =>
        createRedisConnection(config.redis.url, 'cache', 'ai-calling-platform', {
          commandTimeoutMs: config.redis.commandTimeoutMs,
          counter,
        }),
    },
  ],
  exports: [REDIS_CLIENT],
})
export class RedisModule implements OnApplicationShutdown {
  constructor(@Inject(REDIS_CLIENT) private readonly redis: Redis) {}

  async onApplicationShutdown(): Promise<void> {
    await closeRedisConnection(this.redis);
  }
}
