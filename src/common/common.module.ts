import { Global, Module } from '@nestjs/common';
import { RateLimiterService } from './throttling/rate-limiter.service.js';
import { RedisThrottlerStorage } from './throttling/redis-throttler.storage.js';

@Global()
@Module({
  providers: [RateLimiterService, RedisThrottlerStorage],
  exports: [RateLimiterService, RedisThrottlerStorage],
})
export class CommonModule {}
